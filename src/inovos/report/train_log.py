"""Loss curves from a JSON-lines training log (one JSON object per line).

A line is a record such as ``{"epoch": 3, "iteration": 1200, "train": {"loss": 4.1,
"out": 2.0, "mim": 1.5, "aff": 0.6, "lr": 1e-4}}``. Nested objects are flattened
with "/" ("train/loss"). The x axis is the first of "iteration", "step", "epoch"
found in the most records; per-step lines (``"kind": "step"``) are left out when
the log also has epoch lines. Plotted: every numeric key whose last part starts with
"loss" (except the mixed-precision "loss_scale") or is one of the INO terms, and the
learning rate "lr" on its own chart. Lines that are not JSON objects are skipped.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inovos.errors import InovosError

logger = logging.getLogger(__name__)

STEP_KEYS = ("iteration", "step", "epoch")
LOSS_TERMS = ("out", "mim", "aff", "out_g2g", "out_l2g")
EXTRA_KEYS = ("lr",)
_EXCLUDED = ("loss_scale",)


@dataclass(frozen=True)
class TrainLog:
    """Curves read from a training log.

    Attributes:
        path: the log file.
        x_key: the step key used as x axis ("iteration", "step" or "epoch").
        curves: metric name -> (xs, ys), in file order, finite values only.
        skipped_lines: non-empty lines that were not JSON objects.
        config: the run's saved ``config.yaml`` (beside the log), None without one.
        status: how the run ended: completed, stopped early (and why), or unfinished.
    """

    path: Path
    x_key: str
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    skipped_lines: int = 0
    config: str | None = None
    status: str = ""


def read_config(log_path: Path) -> tuple[str | None, dict[str, Any]]:
    """The text and parsed content of ``config.yaml`` beside a training log (None, {})."""
    import yaml

    path = log_path.with_name("config.yaml")
    try:
        text = path.read_text(encoding="utf-8")
        parsed = yaml.safe_load(text)
    except (OSError, yaml.YAMLError):
        return None, {}
    return text, parsed if isinstance(parsed, dict) else {}


def training_status(records: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """One line: whether the run finished its schedule or stopped early (budget, max_iters).

    Epoch records carry ``epoch``, ``iteration``, ``iters_per_epoch``, ``partial`` and
    ``stop_reason`` ("max_iters", "max_minutes" or null); the schedule's length is
    ``optim.epochs`` of the config.
    """
    epochs_done = [r for r in records if "stop_reason" in r and _number(r.get("epoch")) is not None]
    if not epochs_done:
        return "no epoch records"
    last = epochs_done[-1]
    epochs = (config.get("optim") or {}).get("epochs")
    ipe = _number(last.get("iters_per_epoch"))
    iteration = _number(last.get("iteration"))
    total = int(epochs * ipe) if isinstance(epochs, int) and ipe else None
    where = f"step {int(iteration or 0)}" + (f" of {total}" if total else "")
    where += f", epoch {int(last['epoch']) + 1}" + (f" of {epochs}" if epochs else "")
    if total is not None and iteration is not None and iteration >= total:
        return f"completed its schedule ({where})"
    reason = last.get("stop_reason")
    if reason in ("max_iters", "max_minutes"):
        why = "run.max_minutes budget" if reason == "max_minutes" else "run.max_iters"
        return f"stopped early by {why} at {where}, before the end of its schedule"
    return f"unfinished (interrupted or still running) at {where}"


def is_plotted(key: str) -> bool:
    """Whether a flattened metric name ("train/loss", "out", "lr") gets a curve."""
    last = key.rsplit("/", 1)[-1]
    if last in _EXCLUDED:
        return False
    return last.startswith("loss") or last in LOSS_TERMS or last in EXTRA_KEYS


def _number(value: Any) -> float | None:
    """A finite float from a JSON number; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def flatten(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(name, value) pairs of a JSON object, nested objects joined with "/"."""
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}/")
        else:
            yield name, value


def parse_records(lines: list[str]) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects among `lines` and the number of other non-empty lines."""
    records, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(value, dict):
            records.append(value)
        else:
            skipped += 1
    return records, skipped


def choose_x_key(records: list[dict[str, Any]]) -> str | None:
    """The step key with a number in the most records (ties: STEP_KEYS order)."""
    counts = {k: sum(_number(r.get(k)) is not None for r in records) for k in STEP_KEYS}
    best = max(STEP_KEYS, key=lambda k: counts[k])
    return best if counts[best] else None


def curves_from_records(
    records: list[dict[str, Any]], x_key: str
) -> dict[str, tuple[list[float], list[float]]]:
    """Metric name -> (xs, ys) for every plotted key, from records that have `x_key`."""
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        x = _number(record.get(x_key))
        if x is None:
            continue
        for name, value in flatten(record):
            y = _number(value)
            if y is not None and name not in STEP_KEYS and is_plotted(name):
                xs, ys = curves.setdefault(name, ([], []))
                xs.append(x)
                ys.append(y)
    return curves


def read_train_log(path: str | Path) -> TrainLog:
    """Read the curves of a JSON-lines training log.

    Raises:
        InovosError: the file is missing or unreadable. A file without usable
            records gives a log with no curves (and a warning), not an error.
    """
    path = Path(path)
    if not path.is_file():
        raise InovosError(f"{path}: training log not found (--train-log)")
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise InovosError(f"{path}: cannot read training log ({err.strerror})") from None
    records, skipped = parse_records(lines)
    # inovos training logs also hold per-step lines ("kind": "step"): plot the epoch means.
    records = [r for r in records if r.get("kind") != "step"] or records
    config_text, config = read_config(path)
    status = training_status(records, config)
    x_key = choose_x_key(records)
    curves = {} if x_key is None else curves_from_records(records, x_key)
    problems = [f"skipped {skipped} line(s) that are not JSON objects"] if skipped else []
    if x_key is None:
        problems.append(f"no record has an {'/'.join(STEP_KEYS)} key")
    elif not curves:
        problems.append("no loss values found")
    if problems:  # one line, however many problems
        logger.warning("%s: %s", path, "; ".join(problems))
    return TrainLog(path, x_key or STEP_KEYS[0], curves, skipped, config_text, status)
