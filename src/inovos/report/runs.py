"""The runs compared in a report: results folders, their names and their DAVIS scores.

Scores come from the evaluator's CSVs in the results folder
(``global_results-<split>.csv``, ``per-sequence_results-<split>.csv``); where they are
missing, or older than a prediction (masks rewritten after the evaluation), the folder
is scored now with `inovos.evaluation.davis.evaluate_davis` (nothing is written into
the results folder).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inovos.errors import InovosError
from inovos.evaluation.results import GLOBAL_COLUMNS, csv_paths

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunScores:
    """DAVIS scores of one results folder (fractions in [0, 1], NaN where unknown).

    Attributes:
        name: display name of the run.
        path: the results folder.
        global_scores: `GLOBAL_COLUMNS` -> value.
        sequence_jf: sequence -> J&F-Mean of its objects ((J-Mean + F-Mean) / 2,
            averaged over the objects of the sequence).
        num_objects: objects scored.
        source: "csv" (read from the evaluator's CSVs) or "evaluated" (scored now).
        record: the folder's ``run.json`` (model, protocol, versions), None without one.
    """

    name: str
    path: Path
    global_scores: dict[str, float]
    sequence_jf: dict[str, float]
    num_objects: int
    source: str
    record: dict[str, Any] | None = None


def check_results_dir(path: str | Path) -> Path:
    """The results folder, checked to exist and to hold ``<seq>/<frame>.png`` files.

    Raises:
        InovosError: missing folder, or no sequence folder with a PNG in it.
    """
    path = Path(path)
    if not path.is_dir():
        raise InovosError(f"{path}: results folder not found")
    if not any(d.is_dir() and any(d.glob("*.png")) for d in path.iterdir()):
        raise InovosError(
            f"{path}: results folder holds no predictions (expected <sequence>/<frame>.png)"
        )
    return path


def run_names(paths: Sequence[Path], names: Sequence[str] | None = None) -> list[str]:
    """Display names: the given ones, else the folder names (made unique).

    Raises:
        InovosError: a wrong number of names, an empty name or a repeated name.
    """
    if names is not None:
        names = [n.strip() for n in names]
        if len(names) != len(paths):
            raise InovosError(
                f"--names gives {len(names)} name(s) for {len(paths)} results folder(s)"
            )
        if any(not n for n in names):
            raise InovosError("--names: empty run name")
        if len(set(names)) != len(names):
            raise InovosError(f"--names: repeated run name in {','.join(names)}")
        return list(names)
    resolved = [p.resolve() for p in paths]
    out = [p.name or str(p) for p in resolved]
    if len(set(out)) != len(out):
        out = [f"{p.parent.name}/{p.name}" for p in resolved]
    seen: dict[str, int] = {}
    unique = []
    for name in out:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _float(text: str) -> float:
    return float(text) if text.strip() else math.nan


def _read_rows(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV as dicts, after checking that `columns` are in its header."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise InovosError(f"{path}: CSV lacks column(s) {', '.join(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InovosError(f"{path}: cannot read CSV ({err})") from None


def read_score_csvs(
    results_dir: Path, split: str
) -> tuple[dict[str, float], dict[str, float], int]:
    """Scores from the evaluator's two CSVs.

    Returns:
        (global scores by `GLOBAL_COLUMNS`, sequence -> J&F-Mean, number of objects).

    Raises:
        InovosError: unreadable CSVs, missing columns, bad numbers or row names.
    """
    global_path, per_seq_path = csv_paths(results_dir, split)
    rows = _read_rows(global_path, GLOBAL_COLUMNS)
    if len(rows) != 1:
        raise InovosError(f"{global_path}: expected one row of scores, found {len(rows)}")
    per_object = _read_rows(per_seq_path, ("Sequence", "J-Mean", "F-Mean"))
    try:
        scores = {c: _float(rows[0][c]) for c in GLOBAL_COLUMNS}
        objects: dict[str, list[float]] = {}
        for row in per_object:
            sequence, sep, _ = row["Sequence"].rpartition("_")
            if not sep:
                raise InovosError(
                    f"{per_seq_path}: row {row['Sequence']!r} is not <sequence>_<object id>"
                )
            objects.setdefault(sequence, []).append(
                (_float(row["J-Mean"]) + _float(row["F-Mean"])) / 2
            )
    except ValueError as err:
        raise InovosError(f"{per_seq_path.parent}: bad number in the score CSVs ({err})") from None
    jf = {s: sum(v) / len(v) for s, v in objects.items()}
    return scores, jf, len(per_object)


def load_run(
    results_dir: Path, name: str, davis_root: Path, split: str, processes: int | None = None
) -> RunScores:
    """Scores of one results folder: from its CSVs, else by running the evaluator.

    Raises:
        InovosError: unreadable CSVs or any problem the evaluator finds.
    """
    global_path, per_seq_path = csv_paths(results_dir, split)
    if not (global_path.is_file() and per_seq_path.is_file()):
        logger.info(
            "%s has no %s: scoring it now (`inovos evaluate` would save the CSVs)",
            results_dir,
            global_path.name if not global_path.is_file() else per_seq_path.name,
        )
    elif _newer_than_csvs(results_dir, (global_path, per_seq_path)):
        logger.warning(
            "%s: predictions changed after %s was written: scoring them now "
            "(`inovos evaluate` refreshes the CSVs)",
            results_dir,
            global_path.name,
        )
    else:
        scores, jf, count = read_score_csvs(results_dir, split)
        return RunScores(name, results_dir, scores, jf, count, "csv", _record(results_dir))
    from inovos.evaluation.davis import evaluate_davis

    result = evaluate_davis(davis_root, results_dir, split, processes=processes, write_csv=False)
    jf = {s: score.jf_mean for s, score in result.per_sequence().items()}
    return RunScores(
        name,
        results_dir,
        result.global_scores(),
        jf,
        len(result.objects),
        "evaluated",
        _record(results_dir),
    )


def _newer_than_csvs(results_dir: Path, csvs: Sequence[Path]) -> bool:
    """True when a sequence folder or prediction PNG changed at or after the older CSV.

    Writing or deleting a prediction changes its folder's time too (files are written
    through a rename), so a rewritten, added or removed mask makes the CSVs stale.
    """
    written = min(p.stat().st_mtime_ns for p in csvs)
    for folder in results_dir.iterdir():
        if not folder.is_dir():
            continue
        if folder.stat().st_mtime_ns >= written:
            return True
        if any(png.stat().st_mtime_ns >= written for png in folder.glob("*.png")):
            return True
    return False


def _record(results_dir: Path) -> dict[str, Any] | None:
    """The folder's run record; None (with a warning) where it is missing or unreadable."""
    from inovos.records import read_record

    try:
        return read_record(results_dir)
    except InovosError as err:
        logger.warning("%s", err)
        return None
