"""Build the HTML report of one or more DAVIS results folders and write it to a file.

Reads the runs' scores (`inovos.report.runs`), the DAVIS frames and ground truth
(`inovos.vos.davis.DavisDataset`), the predictions of the animated run and an
optional training log, then writes the page built by `inovos.report.html`.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inovos import __version__
from inovos.atomic import atomic_write_text
from inovos.errors import InovosError
from inovos.formats.overlay import overlay
from inovos.formats.palette import read_label_png
from inovos.report.animation import (
    AnimationOptions,
    data_uri,
    encode_animation,
    fit_size,
    resize_labels,
    resize_rgb,
    sample_indices,
    side_by_side,
)
from inovos.report.html import SequenceCard, render_page
from inovos.report.runs import RunScores, check_results_dir, load_run, run_names
from inovos.report.train_log import TrainLog, read_train_log
from inovos.vos.sequence import VideoSequence

logger = logging.getLogger(__name__)


def comparison_frames(
    sequence: VideoSequence, pred_dir: Path, options: AnimationOptions
) -> list[np.ndarray]:
    """Ground-truth overlay beside prediction overlay for a few frames of a sequence.

    Frames with a prediction PNG ``<pred_dir>/<frame>.png`` are sampled evenly (at most
    `options.max_frames`) and shrunk to `options.width` pixels per panel.

    Returns:
        (h, 2 w + 6, 3) uint8 images; empty when no frame has a prediction.
    """
    present = {p.stem for p in pred_dir.glob("*.png")}
    available = [i for i, name in enumerate(sequence.frame_names) if name in present]
    size = fit_size(sequence.frame_size, options.width)
    frames = []
    for k in sample_indices(len(available), options.max_frames):
        i = available[k]
        rgb = resize_rgb(sequence.frame(i), size)
        truth = sequence.ground_truth(i)
        truth = np.zeros(size, np.uint8) if truth is None else resize_labels(truth, size)
        pred = resize_labels(read_label_png(pred_dir / f"{sequence.frame_names[i]}.png"), size)
        frames.append(
            side_by_side(overlay(rgb, truth, contours=True), overlay(rgb, pred, contours=True))
        )
    return frames


def sequence_card(
    sequence: VideoSequence, results_dir: Path, options: AnimationOptions
) -> SequenceCard:
    """The animation card of one sequence (a note instead where predictions are missing)."""
    pred_dir = results_dir / sequence.name
    if not pred_dir.is_dir():
        return SequenceCard(sequence.name, None, f"no predictions in {pred_dir}")
    frames = comparison_frames(sequence, pred_dir, options)
    if not frames:
        return SequenceCard(sequence.name, None, f"no predicted frame in {pred_dir}")
    return SequenceCard(sequence.name, data_uri(encode_animation(frames, options), options.mime))


def check_output(out: Path) -> Path:
    """Create the output's folder if needed and check it can take the page.

    Raises:
        InovosError: `out` is a folder, or its folder cannot be created or written.
    """
    if out.is_dir():
        raise InovosError(f"{out}: is a folder; give a file name such as {out / 'report.html'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InovosError(f"{out}: cannot create the output folder ({err.strerror})") from None
    if not os.access(out.parent, os.W_OK):
        raise InovosError(f"{out}: output folder is not writable")
    return out


def _pick_animated(runs: Sequence[RunScores], animate: str | None) -> RunScores:
    if animate is None:
        return runs[0]
    for run in runs:
        if run.name == animate:
            return run
    names = ", ".join(r.name for r in runs)
    raise InovosError(f"--animate {animate!r}: no run of that name (runs: {names})")


def _bar_sequences(split_names: Sequence[str], runs: Sequence[RunScores]) -> list[str]:
    """The split's scored sequences in split order, then any others the CSVs name."""
    scored = {s for r in runs for s in r.sequence_jf}
    ordered = [s for s in split_names if s in scored]
    extra = sorted(scored - set(ordered))
    return ordered + extra


def build_report(
    results_dirs: Sequence[str | Path],
    davis_root: str | Path,
    out: str | Path,
    *,
    split: str = "val",
    names: Sequence[str] | None = None,
    animate: str | None = None,
    train_log: str | Path | None = None,
    animation: AnimationOptions | None = None,
    processes: int | None = None,
    progress: bool = True,
) -> Path:
    """Write a self-contained HTML report comparing results folders on DAVIS-2017.

    Args:
        results_dirs: results folders ``<dir>/<sequence>/<frame>.png`` (one run each).
        davis_root: DAVIS-2017 root (JPEGImages/480p, Annotations/480p, ImageSets/2017).
        out: the HTML file to write (its folder is created).
        split: image set whose sequences are shown.
        names: display names of the runs (default: folder names).
        animate: name of the run whose predictions are animated (default: the first).
        train_log: JSON-lines training log to plot, or None.
        animation: frames, size, speed and format of the animations (None: defaults);
            `max_frames` caps the frames per sequence.
        processes: worker processes of the evaluator, for folders without CSVs.
        progress: show a progress bar over the sequences.

    Returns:
        The path of the written page.

    Raises:
        InovosError: a missing or empty results folder, a bad DAVIS root, training
            log, run name or output path.
    """
    from inovos.vos.davis import DavisDataset

    if not results_dirs:
        raise InovosError("no results folder given")
    paths = [check_results_dir(p) for p in results_dirs]
    labels = run_names(paths, names)
    out = check_output(Path(out))
    log: TrainLog | None = None if train_log is None else read_train_log(train_log)
    dataset = DavisDataset(davis_root, split)
    runs = [
        load_run(p, n, Path(davis_root), split, processes)
        for p, n in zip(paths, labels, strict=True)
    ]
    shown = _pick_animated(runs, animate)
    options = animation or AnimationOptions()
    cards = []
    for name in tqdm(dataset.names, desc="report", unit="seq", disable=not progress, leave=False):
        cards.append(sequence_card(dataset.sequence(name), shown.path, options))
    meta = [("DAVIS", str(davis_root)), ("split", split), ("runs", str(len(runs)))]
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = render_page(
        runs=runs,
        sequences=_bar_sequences(dataset.names, runs),
        cards=cards,
        animated_run=shown.name,
        meta=meta,
        train_log=log,
        footer=f"inovos {__version__}, {stamp}",
    )
    atomic_write_text(out, page)
    logger.debug("wrote %s (%d bytes)", out, len(page))
    return out
