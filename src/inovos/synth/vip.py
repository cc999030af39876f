"""Write a VIP look-alike: textured figures whose body parts carry the 20 VIP classes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inovos.atomic import atomic_write_text
from inovos.formats.images import write_jpeg
from inovos.formats.palette import write_label_png
from inovos.synth.backgrounds import background_frames
from inovos.synth.common import SynthOptions, prepare_output_dir
from inovos.synth.figure import MOTIONS, render_figure, sample_figure

OWNED = ("Images", "Annotations", "lists")


def write_synth_vip(
    out: str | Path,
    *,
    num_sequences: int = 4,
    num_frames: int = 20,
    size: tuple[int, int] = (360, 480),
    max_people: int = 2,
    seed: int = 0,
    textures: Sequence[str] | None = None,
    backgrounds: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write synthetic part-labelled videos in the VIP layout.

    ``Images/<video>/<frame>.jpg``, ``Annotations/Category_ids/<video>/<frame>.png``
    (palette PNGs of class ids 0..19: background, hair, face, upper-clothes, pants,
    arms, legs, shoes, torso-skin) and ``lists/val_videos.txt``. Each video shows 1 to
    ``max_people`` figures side by side. The same arguments give byte-identical files.

    Args:
        out: output root; must be empty or missing unless ``overwrite``.
        num_sequences: videos to write.
        num_frames: frames per video.
        size: (H, W) of the frames.
        max_people: at most this many figures per video.
        seed: random seed.
        textures: photo names for the body parts (default all).
        backgrounds: clip names for the backgrounds (default all).
        overwrite: replace the layout folders of a non-empty ``out``.
        progress: show a progress bar.

    Returns:
        The output root.
    """
    options = SynthOptions.checked(
        num_sequences, num_frames, size, max_people, seed, textures, backgrounds
    )
    root = prepare_output_dir(out, overwrite, OWNED)
    names = []
    with options.progress(progress, "synth vip") as bar:
        for index in range(options.num_sequences):
            rng = options.rng(index, 0)
            background = str(rng.choice(options.backgrounds))
            people = int(rng.integers(1, options.max_objects + 1))
            figures = [
                sample_figure(
                    rng,
                    options.size,
                    options.num_frames,
                    MOTIONS[int(rng.integers(len(MOTIONS)))],
                    options.textures,
                    region=(k / people, (k + 1) / people),
                )
                for k in range(people)
            ]
            video = f"videos{index + 1}"
            frames_dir = root / "Images" / video
            labels_dir = root / "Annotations" / "Category_ids" / video
            frames_dir.mkdir(parents=True)
            labels_dir.mkdir(parents=True)
            clip = background_frames(
                options.rng(index, 1), background, options.size, options.num_frames
            )
            for t, frame in enumerate(clip):
                labels = np.zeros(options.size, np.uint8)
                for figure in figures:
                    render_figure(frame, labels, figure, t, part_labels=True)
                write_jpeg(frames_dir / f"{t + 1:06d}.jpg", frame)
                write_label_png(labels_dir / f"{t + 1:06d}.png", labels)
                bar.update()
            names.append(video)
    (root / "lists").mkdir()
    atomic_write_text(root / "lists" / "val_videos.txt", "".join(f"{n}\n" for n in names))
    return root
