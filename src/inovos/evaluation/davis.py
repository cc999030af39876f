"""DAVIS-2017 semi-supervised evaluation of a folder of predicted masks.

Layout read: ``<davis>/Annotations/480p/<seq>/<frame>.png`` and
``<davis>/ImageSets/2017/<split>.txt``; predictions ``<results>/<seq>/<frame>.png``
with the ground truth's frame names. The protocol is the official one: the number
of objects is the largest id of the FIRST ground-truth frame, void (255) is
background, the first and last frames are not scored, statistics are averaged over
objects. Sequences are cut into chunks of frames scored in a process pool.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inovos.errors import InovosError
from inovos.evaluation.metrics import frame_scores
from inovos.evaluation.results import EvalResult, ObjectResult, write_csvs
from inovos.formats.davis import read_split, split_path
from inovos.formats.palette import VOID_ID, read_label_png

logger = logging.getLogger(__name__)

ANNOTATIONS_SUBDIR = Path("Annotations") / "480p"
_MAX_CHUNK = 16
_SHOW_MISSING = 5


@dataclass(frozen=True)
class SequencePlan:
    """What to score in one sequence.

    Attributes:
        name: sequence name.
        num_objects: K, the largest id in the first ground-truth frame.
        frames: scored frame names (ground-truth order, first and last left out).
        gt_dir: ground-truth folder of the sequence.
        pred_dir: prediction folder of the sequence.
    """

    name: str
    num_objects: int
    frames: tuple[str, ...]
    gt_dir: Path
    pred_dir: Path


@dataclass(frozen=True)
class _Chunk:
    """Consecutive scored frames of one sequence: the unit of work of the pool."""

    plan: SequencePlan
    start: int
    stop: int


def plan_sequence(gt_root: Path, results_dir: Path, name: str, split_file: Path) -> SequencePlan:
    """Check that one sequence can be scored and list its frames.

    Raises:
        InovosError: missing ground truth, fewer than 3 annotated frames, missing
            prediction folder or frames.
    """
    gt_dir = gt_root / name
    if not gt_dir.is_dir():
        raise InovosError(f"{gt_dir}: no ground truth for sequence '{name}' listed in {split_file}")
    names = sorted(p.name[:-4] for p in gt_dir.glob("*.png") if not p.name.startswith("."))
    if len(names) < 3:
        raise InovosError(
            f"{gt_dir}: sequence '{name}' has {len(names)} annotated frame(s); "
            "at least 3 are needed (the first and last frames are not scored)"
        )
    missing_gt = _missing_ground_truth(gt_dir, names)
    if missing_gt:
        logger.warning(
            "%s: sequence '%s' has no ground truth for %d frame(s) (%s); only annotated "
            "frames are scored",
            gt_dir,
            name,
            len(missing_gt),
            _shorten(missing_gt),
        )
    first = read_label_png(gt_dir / f"{names[0]}.png")
    first = np.where(first == VOID_ID, 0, first)
    frames = tuple(names[1:-1])
    pred_dir = results_dir / name
    if not pred_dir.is_dir():
        raise InovosError(f"{pred_dir}: no predictions for sequence '{name}' (folder not found)")
    present = {p.name for p in pred_dir.iterdir()}
    missing = [f"{f}.png" for f in frames if f"{f}.png" not in present]
    if missing:
        raise InovosError(
            f"{pred_dir}: {len(missing)} of {len(frames)} predicted frames missing "
            f"for sequence '{name}': {_shorten(missing)}"
        )
    return SequencePlan(name, int(first.max(initial=0)), frames, gt_dir, pred_dir)


def _shorten(names: Sequence[str]) -> str:
    return ", ".join(names[:_SHOW_MISSING]) + (", ..." if len(names) > _SHOW_MISSING else "")


def _missing_ground_truth(gt_dir: Path, names: Sequence[str]) -> list[str]:
    """Frames of a sequence without a ground-truth PNG.

    The frames are those of ``JPEGImages/<resolution>/<sequence>`` beside the annotation
    folder when it exists; otherwise the gaps between the first and last numbered names.
    """
    have = set(names)
    frames_dir = gt_dir.parents[2] / "JPEGImages" / gt_dir.parent.name / gt_dir.name
    if frames_dir.is_dir():
        stems = {p.stem for p in frames_dir.glob("*.jpg") if not p.name.startswith(".")}
        return [f"{s}.png" for s in sorted(stems - have)]
    if not all(n.isdigit() for n in names):
        return []
    width = len(names[0])
    expected = (f"{t:0{width}d}" for t in range(int(names[0]), int(names[-1]) + 1))
    return [f"{t}.png" for t in expected if t not in have]


def score_frame(plan: SequencePlan, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one ground-truth / prediction pair and score every object.

    Returns:
        (j, f): two (K,) float64 arrays.

    Raises:
        InovosError: unreadable PNG, size mismatch, or a predicted id above K.
    """
    gt_path, pred_path = plan.gt_dir / f"{frame}.png", plan.pred_dir / f"{frame}.png"
    gt = read_label_png(gt_path)
    pred = read_label_png(pred_path)
    if pred.shape != gt.shape:
        raise InovosError(
            f"{pred_path}: prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth "
            f"{gt_path} is {gt.shape[1]}x{gt.shape[0]}"
        )
    top = int(pred.max(initial=0))
    if top > plan.num_objects:
        raise InovosError(
            f"{pred_path}: sequence {plan.name} frame {frame} has id {top} "
            f"but the ground truth has {plan.num_objects} objects"
        )
    return frame_scores(pred, gt, plan.num_objects)


def _score_chunk(chunk: _Chunk) -> tuple[_Chunk, np.ndarray, np.ndarray]:
    """Score the frames of one chunk: (chunk, J (n, K), F (n, K))."""
    n, k = chunk.stop - chunk.start, chunk.plan.num_objects
    j, f = np.empty((n, k)), np.empty((n, k))
    for i, frame in enumerate(chunk.plan.frames[chunk.start : chunk.stop]):
        j[i], f[i] = score_frame(chunk.plan, frame)
    return chunk, j, f


def _init_worker() -> None:
    """Pool initialiser: one OpenCV thread per worker process."""
    import cv2

    cv2.setNumThreads(1)


def _make_chunks(plans: Sequence[SequencePlan], processes: int) -> list[_Chunk]:
    """Cut sequences into chunks: about 4 per process, at most 16 frames each."""
    total = sum(len(p.frames) for p in plans)
    size = max(1, min(_MAX_CHUNK, math.ceil(total / (4 * processes))))
    return [
        _Chunk(p, start, min(start + size, len(p.frames)))
        for p in plans
        for start in range(0, len(p.frames), size)
    ]


def _run_chunks(
    chunks: list[_Chunk], processes: int
) -> Iterator[tuple[_Chunk, np.ndarray, np.ndarray]]:
    """Score chunks in this process (processes == 1) or a pool, in completion order."""
    if processes == 1 or len(chunks) <= 1:
        yield from map(_score_chunk, chunks)
        return
    # Not fork: a forked child of a process whose OpenMP/OpenCV/torch threads are running
    # (the CLI after propagation, a test runner) can deadlock on an inherited lock.
    context = multiprocessing.get_context("forkserver")
    # The server imports NumPy/OpenCV/Pillow once; each worker forks from it ready to go.
    context.set_forkserver_preload([__name__])
    with _without_main_module():
        pool = context.Pool(min(processes, len(chunks)), initializer=_init_worker)
    with pool:
        yield from pool.imap_unordered(_score_chunk, chunks)


@contextmanager
def _without_main_module() -> Iterator[None]:
    """Hide the caller's ``__main__`` while the pool starts its workers.

    Workers only run this module's functions, but a forkserver/spawn child re-runs the
    parent's main script unless that script is guarded by ``if __name__ ==
    "__main__"``; an unguarded script calling ``evaluate_davis`` would then redo all
    its work in every worker and the pool would restart failing workers forever.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _score_plans(
    plans: Sequence[SequencePlan],
    processes: int,
    progress: Callable[[str | None, int, int], None] | None,
) -> tuple[ObjectResult, ...]:
    """Score every frame of every sequence; per-object results in plan order."""
    scores = {p.name: np.empty((2, len(p.frames), p.num_objects)) for p in plans}
    left = {p.name: len(p.frames) for p in plans}
    done = 0
    if progress is not None:
        progress(None, 0, len(plans))
    for chunk, j, f in _run_chunks(_make_chunks(plans, processes), processes):
        name = chunk.plan.name
        scores[name][0, chunk.start : chunk.stop] = j
        scores[name][1, chunk.start : chunk.stop] = f
        left[name] -= chunk.stop - chunk.start
        if left[name] == 0:
            done += 1
            if progress is not None:
                progress(name, done, len(plans))
    return tuple(
        ObjectResult(
            p.name,
            k,
            np.ascontiguousarray(scores[p.name][0, :, k - 1]),
            np.ascontiguousarray(scores[p.name][1, :, k - 1]),
        )
        for p in plans
        for k in range(1, p.num_objects + 1)
    )


def _check_inputs(davis_root: Path, results_dir: Path) -> Path:
    """Check the DAVIS root, its annotation folder and the results folder; return the second."""
    if not davis_root.is_dir():
        raise InovosError(f"{davis_root}: DAVIS root folder not found")
    gt_root = davis_root / ANNOTATIONS_SUBDIR
    if not gt_root.is_dir():
        raise InovosError(
            f"{gt_root}: annotation folder not found (expected {ANNOTATIONS_SUBDIR}/<sequence>/*.png)"
        )
    if not results_dir.is_dir():
        raise InovosError(f"{results_dir}: results folder not found")
    return gt_root


def _select(split_names: list[str], sequences: Sequence[str] | None, split_file: Path) -> list[str]:
    """The split's sequences, or the requested ones (each must be in the split)."""
    if sequences is None:
        return split_names
    chosen = list(dict.fromkeys(s.strip() for s in sequences if s.strip()))
    if not chosen:
        raise InovosError("no sequences requested (empty sequence list)")
    listed = set(split_names)
    for name in chosen:
        if name not in listed:
            raise InovosError(f"sequence '{name}' is not listed in {split_file}")
    return chosen


def evaluate_davis(
    davis_root: str | Path,
    results_dir: str | Path,
    split: str = "val",
    processes: int | None = None,
    sequences: Sequence[str] | None = None,
    progress: Callable[[str | None, int, int], None] | None = None,
    write_csv: bool = True,
) -> EvalResult:
    """Score a results folder on DAVIS-2017 (semi-supervised J&F, the official protocol).

    Args:
        davis_root: DAVIS-2017 folder holding ``Annotations/480p`` and ``ImageSets/2017``.
        results_dir: folder of predictions ``<seq>/<frame>.png``; the CSVs are written here.
        split: image set, read from ``ImageSets/2017/<split>.txt``.
        processes: worker processes; default ``os.cpu_count()``; 1 runs in this process.
        sequences: evaluate only these sequences of the split (default: all of them).
        progress: called as ``progress(None, 0, total)`` once the inputs are
            checked, then as ``progress(sequence, finished, total)`` each time a
            sequence is finished.
        write_csv: write (always overwrite) the two official CSVs into `results_dir`.

    Returns:
        The per-object scores, the global numbers, and where the CSVs went.

    Raises:
        InovosError: any problem with the inputs (message names the file).
    """
    davis_root, results_dir = Path(davis_root), Path(results_dir)
    if processes is None:
        processes = os.cpu_count() or 1
    if processes < 1:
        raise InovosError(f"processes must be at least 1, got {processes}")
    gt_root = _check_inputs(davis_root, results_dir)
    split_file = split_path(davis_root, split)
    names = _select(list(read_split(split_file)), sequences, split_file)
    absent = [n for n in names if (gt_root / n).is_dir() and not (results_dir / n).is_dir()]
    if absent:
        shown = ", ".join(f"'{n}'" for n in absent[:10]) + (", ..." if len(absent) > 10 else "")
        what = "sequence" if len(absent) == 1 else f"{len(absent)} of {len(names)} sequences:"
        raise InovosError(f"{results_dir}: no predictions for {what} {shown} (folder not found)")
    plans = [plan_sequence(gt_root, results_dir, n, split_file) for n in names]
    if not any(p.num_objects for p in plans):
        raise InovosError(
            f"{gt_root}: the first ground-truth frames hold no object ids; nothing to score"
        )

    start = time.perf_counter()
    objects = _score_plans(plans, processes, progress)
    result = EvalResult(split, tuple(names), {p.name: p.frames for p in plans}, objects)
    logger.info(
        "scored %d objects in %d sequences (%d frames) in %.1f s with %d process(es)",
        len(objects),
        len(plans),
        sum(len(p.frames) for p in plans),
        time.perf_counter() - start,
        processes,
    )
    if write_csv:
        global_csv, per_seq_csv = write_csvs(result, results_dir)
        result = dataclasses.replace(result, global_csv=global_csv, per_sequence_csv=per_seq_csv)
    return result
