"""Evaluation results: per-object scores, global averages, the official CSVs, text tables.

The two CSV files follow the official davis2017-evaluation format exactly
(pandas `to_csv(index=False, float_format="%.3f")`, values as fractions):

* ``global_results-<split>.csv``: ``J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay``
  and one row;
* ``per-sequence_results-<split>.csv``: ``Sequence,J-Mean,F-Mean`` and one row per
  object, named ``<sequence>_<object id>``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inovos.atomic import atomic_write_text, remove_stale_temps
from inovos.evaluation.metrics import mean_of, object_statistics

GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
PER_SEQUENCE_COLUMNS = ("Sequence", "J-Mean", "F-Mean")


@dataclass(frozen=True)
class ObjectResult:
    """Scores of one object of one sequence.

    Attributes:
        sequence: sequence name.
        object_id: object id (1..K).
        j: (T,) per-frame region similarity over the evaluated frames.
        f: (T,) per-frame boundary F-measure.
    """

    sequence: str
    object_id: int
    j: np.ndarray
    f: np.ndarray

    @property
    def name(self) -> str:
        """Row name in the per-sequence CSV: ``<sequence>_<object id>``."""
        return f"{self.sequence}_{self.object_id}"

    @functools.cached_property
    def j_stats(self) -> tuple[float, float, float]:
        """(mean, recall, decay) of J."""
        return object_statistics(self.j)

    @functools.cached_property
    def f_stats(self) -> tuple[float, float, float]:
        """(mean, recall, decay) of F."""
        return object_statistics(self.f)


@dataclass(frozen=True)
class SequenceScore:
    """Mean over the objects of one sequence (for reports; not an official number)."""

    sequence: str
    num_objects: int
    j_mean: float
    f_mean: float

    @property
    def jf_mean(self) -> float:
        """(J-Mean + F-Mean) / 2."""
        return (self.j_mean + self.f_mean) / 2


@dataclass(frozen=True)
class EvalResult:
    """Everything one DAVIS evaluation produced.

    Attributes:
        split: image set name (e.g. ``val``).
        sequences: evaluated sequence names, in order.
        frames: sequence -> evaluated frame names (first and last excluded).
        objects: per-object results in sequence order, then object id.
        global_csv: where the global CSV was written (None if not written).
        per_sequence_csv: where the per-object CSV was written (None if not written).
    """

    split: str
    sequences: tuple[str, ...]
    frames: dict[str, tuple[str, ...]]
    objects: tuple[ObjectResult, ...]
    global_csv: Path | None = None
    per_sequence_csv: Path | None = None

    def global_scores(self) -> dict[str, float]:
        """The official global numbers (fractions), keyed by `GLOBAL_COLUMNS`.

        Every statistic is averaged over all objects of all sequences.
        """
        j_stats = [o.j_stats for o in self.objects]
        f_stats = [o.f_stats for o in self.objects]
        j_mean, f_mean = mean_of([s[0] for s in j_stats]), mean_of([s[0] for s in f_stats])
        return {
            "J&F-Mean": (j_mean + f_mean) / 2.0,
            "J-Mean": j_mean,
            "J-Recall": mean_of([s[1] for s in j_stats]),
            "J-Decay": mean_of([s[2] for s in j_stats]),
            "F-Mean": f_mean,
            "F-Recall": mean_of([s[1] for s in f_stats]),
            "F-Decay": mean_of([s[2] for s in f_stats]),
        }

    def per_sequence(self) -> dict[str, SequenceScore]:
        """Sequence -> mean J and F over its objects (sequences without objects left out)."""
        out: dict[str, SequenceScore] = {}
        for seq in self.sequences:
            objs = [o for o in self.objects if o.sequence == seq]
            if objs:
                j = mean_of([o.j_stats[0] for o in objs])
                f = mean_of([o.f_stats[0] for o in objs])
                out[seq] = SequenceScore(seq, len(objs), j, f)
        return out


def _fmt(value: float) -> str:
    """Number formatting of the official CSVs (pandas float_format="%.3f", NaN empty)."""
    return "" if math.isnan(value) else f"{value:.3f}"


def global_csv_text(result: EvalResult) -> str:
    """Contents of ``global_results-<split>.csv``."""
    scores = result.global_scores()
    return (
        ",".join(GLOBAL_COLUMNS) + "\n" + ",".join(_fmt(scores[c]) for c in GLOBAL_COLUMNS) + "\n"
    )


def per_sequence_csv_text(result: EvalResult) -> str:
    """Contents of ``per-sequence_results-<split>.csv`` (one row per object)."""
    lines = [",".join(PER_SEQUENCE_COLUMNS)]
    for obj in result.objects:
        lines.append(f"{obj.name},{_fmt(obj.j_stats[0])},{_fmt(obj.f_stats[0])}")
    return "\n".join(lines) + "\n"


def csv_paths(results_dir: str | Path, split: str) -> tuple[Path, Path]:
    """(global CSV, per-sequence CSV) paths of a split inside a results folder."""
    root = Path(results_dir)
    return root / f"global_results-{split}.csv", root / f"per-sequence_results-{split}.csv"


def write_csvs(result: EvalResult, results_dir: str | Path) -> tuple[Path, Path]:
    """Write (overwrite) both official CSVs atomically into `results_dir`.

    Raises:
        InovosError: a CSV cannot be written (one line naming the path).

    Returns:
        (global CSV path, per-sequence CSV path).
    """
    global_path, per_seq_path = csv_paths(results_dir, result.split)
    remove_stale_temps(results_dir)  # left by a killed run
    atomic_write_text(global_path, global_csv_text(result))
    atomic_write_text(per_seq_path, per_sequence_csv_text(result))
    write_summary(result, results_dir)
    return global_path, per_seq_path


def summary_path(results_dir: str | Path, split: str) -> Path:
    """``summary-<split>.json`` beside the CSVs."""
    return Path(results_dir) / f"summary-{split}.json"


def write_summary(result: EvalResult, results_dir: str | Path) -> Path:
    """Write ``summary-<split>.json``: the global scores with a copy of the folder's
    ``run.json`` (null where the folder has none), so the numbers keep their settings."""
    import datetime
    import json

    from inovos.records import read_record

    scores = {k: (None if math.isnan(v) else v) for k, v in result.global_scores().items()}
    summary = {
        "split": result.split,
        "evaluated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sequences": list(result.sequences),
        "objects": len(result.objects),
        "scores": scores,
        "run": read_record(results_dir),
    }
    path = summary_path(results_dir, result.split)
    atomic_write_text(path, json.dumps(summary, indent=2) + "\n")
    return path


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def global_table(result: EvalResult) -> str:
    """The global numbers as a text table, in percent with one decimal."""
    scores = result.global_scores()
    headers = ["split", "objects", *GLOBAL_COLUMNS]
    row = [
        result.split,
        str(len(result.objects)),
        *(f"{100 * scores[c]:.1f}" for c in GLOBAL_COLUMNS),
    ]
    return format_table(headers, [row])


def per_object_table(result: EvalResult) -> str:
    """One row per object (J&F, J-Mean, F-Mean in percent), as a text table."""
    rows = []
    for obj in result.objects:
        j, f = obj.j_stats[0], obj.f_stats[0]
        rows.append([obj.name, f"{50 * (j + f):.1f}", f"{100 * j:.1f}", f"{100 * f:.1f}"])
    return format_table(["object", "J&F-Mean", "J-Mean", "F-Mean"], rows)
