"""Segment sequences end to end: read frames ahead, batch features, propagate, write PNGs.

One sequence flows through three overlapping stages: a reader thread decodes and
resizes frames (``read_ahead``), the model extracts features for a batch of frames
at a time, and the propagator walks the frames in order while a thread pool writes
the palette PNGs (and overlays) behind it (``BackgroundWriter``). Each PNG is
written atomically, so a sequence is complete exactly when every output PNG exists:
re-running on the same output folder skips complete sequences and redoes the rest.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from inovos.atomic import atomic_open, remove_stale_temps
from inovos.errors import InovosError
from inovos.formats.overlay import overlay
from inovos.formats.palette import write_label_png
from inovos.propagation.features import FeatureModel
from inovos.propagation.presets import PropagationParams
from inovos.segment.background import BackgroundWriter
from inovos.segment.feature_cache import CachedFeatures
from inovos.segment.segmenter import VideoSegmenter, segment_frames
from inovos.vos.sequence import VideoSequence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentOptions:
    """How to run propagation over sequences.

    Attributes:
        params: the protocol (preset with overrides).
        device: where features and propagation run.
        batch_size: frames per feature-extraction batch.
        feature_dtype: autocast dtype for the backbone on CUDA (bf16/fp16), None for fp32.
        overlays: also write ``<out>/<seq>/overlays/<frame>.jpg``.
        resume: skip sequences whose outputs are all present.
        write_workers: threads writing files.
        feature_cache: read and store backbone features in this on-disk cache (None: always
            compute them).
    """

    params: PropagationParams
    device: torch.device | str = "cpu"
    batch_size: int = 4
    feature_dtype: torch.dtype | None = None
    overlays: bool = False
    resume: bool = True
    write_workers: int = 2
    feature_cache: CachedFeatures | None = None


@dataclass(frozen=True)
class SequenceResult:
    """What happened to one sequence (``entry``: its line in the run record)."""

    name: str
    frames: int
    seconds: float
    skipped: bool
    entry: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    """What a results folder's ``run.json`` records (``inovos.records``).

    Attributes:
        settings: what decides the pixels (model, protocol knobs, dtype); compared on resume.
        data: where the sequences come from (recorded only).
    """

    settings: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)


def sequence_is_complete(seq: VideoSequence, out_dir: Path, overlays: bool = False) -> bool:
    """True when every output of ``seq`` exists in ``out_dir`` (each written atomically).

    The outputs are the PNG of every output frame and, with ``overlays``, the overlay
    JPEG of every frame: a re-run that asks for overlays redoes a sequence without them.
    """
    if not all((out_dir / f"{name}.png").is_file() for name in seq.output_frames):
        return False
    return not overlays or all(
        (out_dir / "overlays" / f"{name}.jpg").is_file() for name in seq.frame_names
    )


def _write_overlay(path: Path, frame: np.ndarray, labels: np.ndarray) -> None:
    with atomic_open(path) as f:
        Image.fromarray(overlay(frame, labels)).save(f, format="JPEG", quality=90)


FrameCallback = Callable[[int, np.ndarray, np.ndarray], None]


def segment_sequence(
    model: FeatureModel,
    seq: VideoSequence,
    out_dir: Path,
    options: SegmentOptions,
    on_frame: FrameCallback | None = None,
) -> SequenceResult:
    """Propagate ``seq``'s given annotations to all its frames and write the PNGs.

    Args:
        model: the feature backbone (in eval mode, on ``options.device``).
        seq: the sequence; ``seq.annotation(i)`` gives the annotations to start from.
        out_dir: ``<out>/<seq>``; created if needed.
        options: protocol and run options.
        on_frame: called in frame order as ``on_frame(i, frame (H,W,3), labels (H,W))``
            (e.g. to encode an overlay video) from the propagation thread.

    Returns:
        A ``SequenceResult`` (frames propagated and wall time).
    """
    start = time.perf_counter()
    wanted = set(seq.output_frames)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir, recursive=True)  # PNGs half-written by a killed run
    if options.overlays:
        (out_dir / "overlays").mkdir(exist_ok=True)
    segmenter = VideoSegmenter(
        model,
        params=options.params,
        object_ids=seq.object_ids,
        device=options.device,
        feature_dtype=options.feature_dtype,
        feature_cache=options.feature_cache,
    )
    segmenter.input_size(seq.frame_size)  # a frame size the protocol cannot use fails here
    with BackgroundWriter(options.write_workers) as writer:
        for i, frame, labels in segment_frames(segmenter, seq, options.batch_size):
            name = seq.frame_names[i]
            if name in wanted:
                png = out_dir / f"{name}.png"
                writer.submit(write_label_png, png, labels)
            if options.overlays:
                writer.submit(_write_overlay, out_dir / "overlays" / f"{name}.jpg", frame, labels)
            if on_frame is not None:
                on_frame(i, frame, labels)
    seconds = time.perf_counter() - start
    entry = {
        "frames": seq.num_frames,
        "frame_size": list(seq.frame_size),
        "input_size": list(segmenter.input_size(seq.frame_size)),
        "device": str(segmenter.device),
        "seconds": {**segmenter.times.as_dict(), "total": round(seconds, 3)},
    }
    return SequenceResult(seq.name, seq.num_frames, seconds, skipped=False, entry=entry)


def segment_sequences(
    model: FeatureModel,
    sequences: Sequence[VideoSequence],
    out_root: Path,
    options: SegmentOptions,
    progress: bool = True,
    run: RunSettings | None = None,
) -> list[SequenceResult]:
    """Segment every sequence into ``<out_root>/<name>/``, resuming where possible.

    With ``run``, ``<out_root>/run.json`` records the settings and each finished
    sequence; a sequence is skipped only when its masks are complete AND the record
    lists it under the same settings. Other settings (or masks without a record)
    stop the run before anything is written, unless ``options.resume`` is off.
    A progress bar counts frames over all sequences.
    """
    from tqdm import tqdm

    from inovos.records import add_sequence

    ensure_writable(out_root)
    recorded = open_run(out_root, sequences, options, run)
    results = []
    total = sum(seq.num_frames for seq in sequences)
    with tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        for seq in sequences:
            bar.set_postfix_str(seq.name)
            out_dir = out_root / seq.name
            if can_skip(seq, out_dir, options, recorded):
                logger.info("%s: complete, skipped", seq.name)
                remove_stale_temps(out_dir, recursive=True)  # e.g. an overlay cut by a kill
                results.append(SequenceResult(seq.name, seq.num_frames, 0.0, skipped=True))
                bar.update(seq.num_frames)
                continue
            tick: FrameCallback = lambda *_: bar.update(1)  # noqa: E731
            result = segment_sequence(model, seq, out_dir, options, on_frame=tick)
            if run is not None:
                add_sequence(out_root, seq.name, result.entry)
            results.append(result)
    return results


def open_run(
    out_root: Path,
    sequences: Sequence[VideoSequence],
    options: SegmentOptions,
    run: RunSettings | None,
) -> set[str] | None:
    """Check ``<out_root>/run.json`` against ``run`` and prepare it (``records.open_record``).

    Returns:
        The sequences the record lists as done, or None without ``run``.

    Raises:
        InovosError: results made with other settings, or masks without a record, while
            ``options.resume`` is on; nothing is written then.
    """
    if run is None:
        return None
    from inovos.records import open_record

    names = [seq.name for seq in sequences]
    unrecorded = [n for n in names if any((out_root / n).glob("*.png"))]
    record = open_record(out_root, run.settings, run.data, names, not options.resume, unrecorded)
    return set(record["sequences"])


def can_skip(
    seq: VideoSequence, out_dir: Path, options: SegmentOptions, recorded: set[str] | None
) -> bool:
    """True when a resumed run may skip ``seq``: its outputs are complete and the run
    record (``recorded``, from ``open_run``; None: no record kept) lists it."""
    listed = recorded is None or seq.name in recorded
    return options.resume and listed and sequence_is_complete(seq, out_dir, options.overlays)


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` and check that files can be written into it (InovosError if not)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".inovos-write-test{os.getpid()}"  # one per process (ranks)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InovosError(f"{folder}: output folder is not writable ({reason})") from None
