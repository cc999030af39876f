"""Write a DAVIS-2017 look-alike: the exact folder layout, synthetic content."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inovos.atomic import atomic_write_text
from inovos.errors import InovosError
from inovos.formats.images import write_jpeg
from inovos.formats.palette import VOID_ID, write_label_png
from inovos.synth.common import (
    SynthOptions,
    prepare_output_dir,
    render_sequence,
    sample_sequence,
)

logger = logging.getLogger(__name__)

DAVIS_SPLITS = ("train", "val")


def write_synth_davis(
    out: str | Path,
    *,
    num_sequences: int = 4,
    num_frames: int = 30,
    size: tuple[int, int] = (480, 854),
    max_objects: int = 3,
    seed: int = 0,
    split: str = "val",
    textures: Sequence[str] | None = None,
    backgrounds: Sequence[str] | None = None,
    void_prob: float = 0.2,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write synthetic sequences in the DAVIS-2017 layout.

    `JPEGImages/480p/<seq>/00000.jpg` (JPEG quality 90), `Annotations/480p/<seq>/
    00000.png` (palette PNG, ids 1..K, ground truth of every frame) and
    `ImageSets/2017/{train,val}.txt` (the sequences in `split`, the other file
    empty). All objects are present in frame 0; some later frames get a thin void
    (255) band on every object boundary, as in real DAVIS. The output is a function
    of the arguments: the same seed gives byte-identical files.

    Args:
        out: output root; must be empty or missing unless `overwrite`.
        num_sequences: sequences to write (named `<clip>-<index>`).
        num_frames: frames per sequence.
        size: (H, W) of the frames.
        max_objects: objects per sequence are drawn from [min(2, max), max].
        seed: random seed.
        split: "val" or "train": the split file that lists the sequences.
        textures: photo names to cut objects from (default all TEXTURE_NAMES).
        backgrounds: clip names for backgrounds (default all BACKGROUND_NAMES).
        void_prob: chance that a frame after the first gets a void boundary band.
        overwrite: replace the layout folders of a non-empty `out`.
        progress: show a progress bar.

    Returns:
        The output root.
    """
    if split not in DAVIS_SPLITS:
        raise InovosError(f"split must be one of {', '.join(DAVIS_SPLITS)}, got {split!r}")
    options = SynthOptions.checked(
        num_sequences, num_frames, size, max_objects, seed, textures, backgrounds
    )
    root = prepare_output_dir(out, overwrite, ("JPEGImages", "Annotations", "ImageSets"))
    names = []
    with options.progress(progress, "synth davis") as bar:
        for index in range(options.num_sequences):
            sequence = sample_sequence(options, index)
            name = f"{sequence.background}-{index:03d}"
            frames_dir = root / "JPEGImages" / "480p" / name
            labels_dir = root / "Annotations" / "480p" / name
            frames_dir.mkdir(parents=True)
            labels_dir.mkdir(parents=True)
            void_rng = options.rng(index, 2)
            for t, frame, labels in render_sequence(options, index, sequence):
                write_jpeg(frames_dir / f"{t:05d}.jpg", frame)
                if t > 0 and void_rng.random() < void_prob:
                    labels = add_void_band(labels)
                write_label_png(labels_dir / f"{t:05d}.png", labels)
                bar.update()
            names.append(name)
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True)
    for name in DAVIS_SPLITS:
        listed = names if name == split else []
        atomic_write_text(sets / f"{name}.txt", "".join(f"{n}\n" for n in listed))
    logger.debug("wrote %d DAVIS-like sequences to %s", len(names), root)
    return root


def add_void_band(labels: np.ndarray) -> np.ndarray:
    """Mark every label boundary (pixels whose 3x3 neighbourhood mixes ids) as void 255.

    Args:
        labels: (H, W) uint8 ids.

    Returns:
        (H, W) uint8, a copy with a band about two pixels wide set to 255.
    """
    kernel = np.ones((3, 3), np.uint8)
    boundary = cv2.dilate(labels, kernel) != cv2.erode(labels, kernel)
    return np.where(boundary, np.uint8(VOID_ID), labels)
