"""Write a JHMDB look-alike: articulated textured figures with 15 joints, real layout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from inovos.atomic import atomic_open, atomic_write_text
from inovos.formats.joints import MAT_NAME, save_mat
from inovos.synth.backgrounds import background_frames
from inovos.synth.common import SynthOptions, prepare_output_dir
from inovos.synth.figure import MOTIONS, render_figure, sample_figure
from inovos.vos.jhmdb import LIST_FILE

OWNED = ("Rename_Images", "joint_positions", "splits", LIST_FILE)


def write_synth_jhmdb(
    out: str | Path,
    *,
    num_sequences: int = 4,
    num_frames: int = 40,
    size: tuple[int, int] = (240, 320),
    seed: int = 0,
    textures: Sequence[str] | None = None,
    backgrounds: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write synthetic keypoint videos in the JHMDB layout.

    ``Rename_Images/<class>/<video>/00001.png`` (frames), ``joint_positions/<class>/
    <video>/joint_positions.mat`` (``pos_img`` 2 x 15 x T, 1-based pixel x, y, plus
    ``pos_world`` and ``scale`` like the real files), ``splits/<class>_test_split1.txt``
    (every video a test video, "2") and ``testlist_split1.txt`` (the CRW/UVC list, paths
    relative to the root). Classes are the motions walk, wave and jump, in turn. The
    same arguments give byte-identical files.

    Args:
        out: output root; must be empty or missing unless ``overwrite``.
        num_sequences: videos to write.
        num_frames: frames per video.
        size: (H, W) of the frames (JHMDB: 240 x 320).
        seed: random seed.
        textures: photo names for the body parts (default all).
        backgrounds: clip names for the backgrounds (default all).
        overwrite: replace the layout folders of a non-empty ``out``.
        progress: show a progress bar.

    Returns:
        The output root.
    """
    options = SynthOptions.checked(num_sequences, num_frames, size, 1, seed, textures, backgrounds)
    root = prepare_output_dir(out, overwrite, OWNED)
    by_class: dict[str, list[str]] = {m: [] for m in MOTIONS}
    listed = []
    with options.progress(progress, "synth jhmdb") as bar:
        for index in range(options.num_sequences):
            motion = MOTIONS[index % len(MOTIONS)]
            rng = options.rng(index, 0)
            background = str(rng.choice(options.backgrounds))
            figure = sample_figure(rng, options.size, options.num_frames, motion, options.textures)
            video = f"{background}_{motion}_{index:03d}"
            frames_dir = root / "Rename_Images" / motion / video
            mat_dir = root / "joint_positions" / motion / video
            frames_dir.mkdir(parents=True)
            mat_dir.mkdir(parents=True)
            clip = background_frames(
                options.rng(index, 1), background, options.size, options.num_frames
            )
            for t, frame in enumerate(clip):
                labels = np.zeros(options.size, np.uint8)
                render_figure(frame, labels, figure, t, part_labels=False)
                with atomic_open(frames_dir / f"{t + 1:05d}.png") as f:
                    Image.fromarray(frame).save(f, format="PNG", optimize=False)
                bar.update()
            _write_mat(mat_dir / MAT_NAME, figure.joints, options.size)
            by_class[motion].append(video)
            listed.append(
                f"Rename_Images/{motion}/{video} joint_positions/{motion}/{video}/{MAT_NAME}"
            )
    splits = root / "splits"
    splits.mkdir()
    for motion, videos in by_class.items():
        text = "".join(f"{v}.avi 2\n" for v in videos)
        atomic_write_text(splits / f"{motion}_test_split1.txt", text)
    atomic_write_text(root / LIST_FILE, "".join(f"{line}\n" for line in listed))
    return root


def _write_mat(path: Path, joints: np.ndarray, size: tuple[int, int]) -> None:
    """``pos_img`` (2, 15, T) 1-based from (T, 15, 2) 0-based joints; ``pos_world`` is the
    pose centred on the belly and divided by the per-frame ``scale`` (as in JHMDB)."""
    pos_img = np.transpose(joints, (2, 1, 0)) + 1.0  # (2, 15, T)
    centre = pos_img[:, 1:2, :]  # belly
    scale = np.linalg.norm(pos_img[:, 0] - pos_img[:, 1], axis=0)[None, :]  # (1, T)
    pos_world = (pos_img - centre) / np.maximum(scale, 1e-6)[:, None, :]
    save_mat(path, {"pos_img": pos_img, "pos_world": pos_world, "scale": scale, "viewpoint": "E"})
