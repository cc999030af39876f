"""`inovos propagate --sweep` and `--feature-cache`: options, checks, the sweep's table.

Everything the user typed is checked (``plan_sweep``) before a file is written.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inovos.errors import InovosError

# Sweep knob -> the option that sets it for a single run.
_KNOB_OPTIONS = {
    "topk": "topk",
    "context": "context",
    "radius": "radius",
    "temperature": "temperature",
}
TEMPORARY_CACHE = ".feature-cache"


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """--sweep, --feature-cache, --feature-cache-size, --no-feature-cache."""
    g = parser.add_argument_group("sweeps and the feature cache")
    g.add_argument(
        "--sweep",
        nargs="+",
        metavar="KNOB=V1,V2",
        help=(
            "run every point of a grid of protocol knobs (topk, context, radius, temperature), "
            "e.g. --sweep topk=5,10 radius=20,40: one results folder per point "
            "(OUT/topk5_radius20/), one table OUT/sweep.csv (with --evaluate: J&F per point); "
            "the backbone features are computed once and reused"
        ),
    )
    g.add_argument(
        "--feature-cache",
        metavar="DIR",
        help=(
            "keep backbone features in DIR and reuse them in later runs (keyed by the model "
            "file's sha256, layer, input size, dtype and frame); a sweep without it uses "
            f"OUT/{TEMPORARY_CACHE}, removed when the sweep is done"
        ),
    )
    g.add_argument(
        "--feature-cache-size",
        default="20G",
        metavar="SIZE",
        help="bound of the feature cache (e.g. 500M, 20G; default 20G): least recently "
        "used features are deleted first",
    )
    g.add_argument(
        "--no-feature-cache",
        action="store_true",
        help="compute all features, also in a sweep (for timing)",
    )


@dataclass(frozen=True)
class CachePlan:
    """Where features are cached: ``root`` (None: nowhere), its bound, and whether the
    folder is removed when the run is done."""

    root: Path | None
    max_bytes: int
    temporary: bool


def plan_cache(args: argparse.Namespace) -> CachePlan:
    """The feature-cache options, checked (InovosError on a bad size or conflicting flags)."""
    from inovos.segment.feature_cache import parse_size

    if args.no_feature_cache and args.feature_cache:
        raise InovosError("--feature-cache and --no-feature-cache contradict each other")
    max_bytes = parse_size(args.feature_cache_size)
    if args.no_feature_cache:
        return CachePlan(None, max_bytes, temporary=False)
    if args.feature_cache:
        return CachePlan(Path(args.feature_cache), max_bytes, temporary=False)
    if args.sweep:
        return CachePlan(Path(args.out) / TEMPORARY_CACHE, max_bytes, temporary=True)
    return CachePlan(None, max_bytes, temporary=False)


def plan_sweep(args: argparse.Namespace, params: Any) -> list[Any] | None:
    """The sweep's points (``SweepPoint``), or None without --sweep; checked.

    Raises:
        InovosError: a bad --sweep (see ``parse_sweep``), a knob also set by its own
            option, or a value out of range.
    """
    if args.sweep is None:
        return None
    from inovos.segment.sweep import parse_sweep, sweep_points

    axes = parse_sweep(args.sweep)
    for knob, _ in axes:
        if getattr(args, _KNOB_OPTIONS[knob]) is not None:
            raise InovosError(f"--{knob} and --sweep {knob}=... both set {knob}; give one")
    return sweep_points(params, axes)


def cached_features(args: argparse.Namespace, plan: CachePlan) -> Any:
    """``CachedFeatures`` for the --model source, or None when there is no cache."""
    if plan.root is None:
        return None
    from inovos.segment.feature_cache import CachedFeatures, FeatureCache, model_identity

    model_id = model_identity(
        args.model, which=args.which, patch_size=args.patch_size, seed=args.seed
    )
    return CachedFeatures(FeatureCache(plan.root, plan.max_bytes), model_id)


def run_sweep_command(
    args: argparse.Namespace,
    model: Any,
    sequences: list[Any],
    options: Any,
    points: list[Any],
    plan: CachePlan,
    finish: Any,
    settings: Any,
) -> int:
    """Run the sweep, finish each point's folder with ``finish(out_dir)`` (zip, J&F),
    print and write the table; remove a temporary cache.

    ``settings(params)`` gives the ``RunSettings`` a point's ``run.json`` records."""
    from inovos.evaluation.results import format_table
    from inovos.segment.sweep import run_sweep, sweep_rows, write_sweep_csv

    out = Path(args.out)
    start = time.perf_counter()
    runs = {point.name: settings(point.params) for point in points}
    results = run_sweep(
        model, sequences, out, options, points, progress=not args.no_progress, runs=runs
    )
    wall = time.perf_counter() - start
    scores = {}
    for point in points:
        evaluated = finish(out / point.name)
        if evaluated is not None:
            scores[point.name] = evaluated.global_scores()
    header, rows = sweep_rows(results, scores or None)
    csv_path = write_sweep_csv(out / "sweep.csv", header, rows)
    print(format_table(*sweep_rows(results, scores or None, percent=True)))
    cached = options.feature_cache
    stats = (
        ""
        if cached is None
        else f"; features of {cached.cache.stored} frames computed, "
        f"{cached.cache.hits} read from the cache"
    )
    print(f"{len(points)} points in {wall:.1f} s{stats}; table in {csv_path}")
    if plan.temporary and plan.root is not None:
        shutil.rmtree(plan.root, ignore_errors=True)
    return 0
