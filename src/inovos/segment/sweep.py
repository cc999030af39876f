"""Protocol sweeps: one propagation run per grid point, the features computed once.

``parse_sweep(["topk=5,10", "radius=20,40"])`` gives the axes of a grid;
``sweep_points`` turns them into one ``PropagationParams`` per point of their product,
named after the point (``topk5_radius20``). ``run_sweep`` segments every sequence at
every point into ``<out>/<point>/<sequence>/``, sequence by sequence, so a feature cache
only has to hold one sequence's features for all points to reuse them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inovos.atomic import atomic_write_text
from inovos.errors import InovosError
from inovos.propagation.features import FeatureModel
from inovos.propagation.presets import PropagationParams
from inovos.segment.runner import (
    FrameCallback,
    RunSettings,
    SegmentOptions,
    can_skip,
    ensure_writable,
    open_run,
    segment_sequence,
)
from inovos.vos.sequence import VideoSequence

Number = int | float

# Sweepable knob -> (PropagationParams field, value type).
KNOBS: dict[str, tuple[str, type]] = {
    "topk": ("topk", int),
    "context": ("n_context", int),
    "radius": ("radius", int),
    "temperature": ("temperature", float),
}
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep grid.

    Attributes:
        name: folder name, knobs in the order given, e.g. ``topk5_radius20``.
        values: (knob, value) pairs in the order given.
        params: the protocol at this point.
    """

    name: str
    values: tuple[tuple[str, Number], ...]
    params: PropagationParams


@dataclass(frozen=True)
class PointResult:
    """What one point's run did: sequences propagated and skipped, frames, seconds."""

    point: SweepPoint
    propagated: int = 0
    skipped: int = 0
    frames: int = 0
    seconds: float = 0.0


def _value(knob: str, text: str, kind: type) -> Number:
    """One value of ``knob`` as an int or a finite float."""
    text = text.strip()
    if kind is int:
        if not _INT.match(text):
            raise InovosError(f"--sweep {knob}: {text!r} is not a whole number")
        return int(text)
    if not _FLOAT.match(text) or not math.isfinite(float(text)):
        raise InovosError(f"--sweep {knob}: {text!r} is not a number")
    return float(text)


def parse_sweep(specs: Sequence[str]) -> list[tuple[str, list[Number]]]:
    """``KNOB=V1,V2,...`` strings -> [(knob, values)] in the order given.

    Raises:
        InovosError: not KNOB=VALUES, an unknown knob, a knob given twice, a value that
            is not a number (a whole number for topk, context, radius), a value listed
            twice.
    """
    axes: list[tuple[str, list[Number]]] = []
    for spec in specs:
        knob, sep, values = spec.partition("=")
        knob = knob.strip()
        if not sep or not knob:
            raise InovosError(f"--sweep {spec!r}: expected KNOB=V1,V2,... (e.g. topk=5,10)")
        if knob not in KNOBS:
            known = ", ".join(sorted(KNOBS))
            raise InovosError(f"--sweep {spec!r}: unknown knob {knob!r} (knobs: {known})")
        if any(k == knob for k, _ in axes):
            raise InovosError(f"--sweep: {knob} is given twice")
        texts = values.split(",")
        if not values.strip() or any(not t.strip() for t in texts):
            raise InovosError(f"--sweep {spec!r}: empty value (expected {knob}=V1,V2,...)")
        parsed = [_value(knob, t, KNOBS[knob][1]) for t in texts]
        for i, v in enumerate(parsed):
            if v in parsed[:i]:
                raise InovosError(f"--sweep {knob}: {v} is listed twice")
        axes.append((knob, parsed))
    if not axes:
        raise InovosError("--sweep needs at least one KNOB=V1,V2,...")
    return axes


def _label(value: Number) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def sweep_points(
    base: PropagationParams, axes: Sequence[tuple[str, Sequence[Number]]]
) -> list[SweepPoint]:
    """The grid: one point per element of the product of the axes' values, first axis slowest.

    Raises:
        InovosError: a value out of its knob's range (e.g. topk 0, temperature <= 0).
    """
    points = []
    for combo in itertools.product(*(values for _, values in axes)):
        values = tuple((knob, v) for (knob, _), v in zip(axes, combo, strict=True))
        name = "_".join(f"{knob}{_label(v)}" for knob, v in values)
        try:
            changes: dict[str, Any] = {KNOBS[k][0]: v for k, v in values}
            params = dataclasses.replace(base, **changes)
        except InovosError as err:
            raise InovosError(f"--sweep point {name}: {err}") from None
        points.append(SweepPoint(name, values, params))
    return points


def run_sweep(
    model: FeatureModel,
    sequences: Sequence[VideoSequence],
    out_root: Path,
    options: SegmentOptions,
    points: Sequence[SweepPoint],
    progress: bool = True,
    runs: Mapping[str, RunSettings] | None = None,
) -> list[PointResult]:
    """Segment every sequence at every point into ``<out_root>/<point>/<sequence>/``.

    Sequences are the outer loop: all points of one sequence run before the next one,
    so its features are computed by the first point and read back from
    ``options.feature_cache`` by the others. With ``runs`` (point name -> its
    settings), every point folder keeps its own ``run.json``, checked for all points
    before any work (``runner.open_run``); complete outputs are skipped as
    ``segment_sequences`` skips them. A progress bar counts frames over all points.
    """
    from tqdm import tqdm

    from inovos.records import add_sequence

    recorded = {}
    for point in points:
        ensure_writable(out_root / point.name)
        run = None if runs is None else runs[point.name]
        recorded[point.name] = open_run(out_root / point.name, sequences, options, run)
    results = {p.name: PointResult(p) for p in points}
    total = len(points) * sum(seq.num_frames for seq in sequences)
    with tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        for seq in sequences:
            for point in points:
                bar.set_postfix_str(f"{seq.name} {point.name}")
                out_dir = out_root / point.name / seq.name
                old = results[point.name]
                if can_skip(seq, out_dir, options, recorded[point.name]):
                    results[point.name] = dataclasses.replace(old, skipped=old.skipped + 1)
                    bar.update(seq.num_frames)
                    continue
                tick: FrameCallback = lambda *_: bar.update(1)  # noqa: E731
                point_options = dataclasses.replace(options, params=point.params)
                done = segment_sequence(model, seq, out_dir, point_options, on_frame=tick)
                if runs is not None:
                    add_sequence(out_root / point.name, seq.name, done.entry)
                results[point.name] = dataclasses.replace(
                    old,
                    propagated=old.propagated + 1,
                    frames=old.frames + done.frames,
                    seconds=old.seconds + done.seconds,
                )
    return [results[p.name] for p in points]


_SCORE_COLUMNS = ("J&F-Mean", "J-Mean", "F-Mean")


def sweep_rows(
    results: Sequence[PointResult],
    scores: Mapping[str, Mapping[str, float]] | None = None,
    percent: bool = False,
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the sweep table.

    Args:
        results: one per point, in order.
        scores: point name -> global J&F scores as fractions (``EvalResult.global_scores``).
        percent: scores in percent with one decimal (for printing) instead of fractions
            with three (the official CSVs' format).
    """
    knobs = [k for k, _ in results[0].point.values] if results else []
    header = ["point", *knobs, "sequences", "frames", "seconds"]
    if scores is not None:
        header += list(_SCORE_COLUMNS)
    rows = []
    for r in results:
        row = [r.point.name, *(_label(v) for _, v in r.point.values)]
        row += [str(r.propagated + r.skipped), str(r.frames), f"{r.seconds:.2f}"]
        if scores is not None:
            values = [scores[r.point.name][c] for c in _SCORE_COLUMNS]
            row += [f"{100 * v:.1f}" if percent else f"{v:.3f}" for v in values]
        rows.append(row)
    return header, rows


def write_sweep_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """Write the sweep table as CSV (atomically); returns ``path``."""
    atomic_write_text(path, "\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return path
