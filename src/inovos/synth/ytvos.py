"""Write a YouTube-VOS 2018 `valid` look-alike: the exact folder layout, synthetic content."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Container, Sequence
from pathlib import Path

import numpy as np

from inovos.atomic import atomic_write_text
from inovos.errors import InovosError
from inovos.formats.images import write_jpeg
from inovos.formats.palette import write_label_png
from inovos.synth.common import (
    SynthOptions,
    SynthSequence,
    prepare_output_dir,
    render_sequence,
    sample_sequence,
)

logger = logging.getLogger(__name__)


def write_synth_ytvos(
    out: str | Path,
    *,
    num_sequences: int = 4,
    num_frames: int = 36,
    size: tuple[int, int] = (720, 1280),
    max_objects: int = 3,
    seed: int = 0,
    stride: int = 5,
    textures: Sequence[str] | None = None,
    backgrounds: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write synthetic videos in the YouTube-VOS 2018 valid layout.

    - `valid_all_frames/JPEGImages/<vid>/00000.jpg ...` every frame (JPEG quality 90);
    - `valid/JPEGImages/<vid>/` every `stride`-th frame (00000, 00005, ...);
    - `valid/Annotations/<vid>/<frame>.png` only at the frames where objects first
      appear, each holding only the newly appearing objects (palette PNG);
    - `valid/meta.json`: per object its category (the texture name) and the listed
      frames from its first appearance on.

    Object 1 starts at frame 0; whenever a video has two or more objects, at least
    one enters late, at a listed frame in the first ~60% of the video. Video names
    are 10 hex digits. Same seed, same bytes.

    Args:
        out: output root; must be empty or missing unless `overwrite`.
        num_sequences: videos to write.
        num_frames: frames per video (all frames).
        size: (H, W) of the frames.
        max_objects: objects per video are drawn from [min(2, max), max].
        seed: random seed.
        stride: every stride-th frame is listed in valid/JPEGImages (5 in YouTube-VOS).
        textures: photo names to cut objects from (default all TEXTURE_NAMES).
        backgrounds: clip names for backgrounds (default all BACKGROUND_NAMES).
        overwrite: replace the layout folders of a non-empty `out`.
        progress: show a progress bar.

    Returns:
        The output root.
    """
    if stride < 1:
        raise InovosError(f"stride must be at least 1, got {stride}")
    options = SynthOptions.checked(
        num_sequences, num_frames, size, max_objects, seed, textures, backgrounds
    )
    root = prepare_output_dir(out, overwrite, ("valid", "valid_all_frames"))
    videos: dict[str, dict[str, dict[str, object]]] = {}
    with options.progress(progress, "synth ytvos") as bar:
        for index in range(options.num_sequences):
            vid = _video_name(options.rng(index, 3), videos)
            starts = _start_frames(options, index, stride)
            sequence = sample_sequence(options, index, starts)
            _write_video(options, index, sequence, root, vid, stride, bar.update)
            videos[vid] = {
                "objects": {
                    str(k): {
                        "category": obj.texture,
                        "frames": [f"{t:05d}" for t in range(obj.start, num_frames, stride)],
                    }
                    for k, obj in enumerate(sequence.scene.objects, start=1)
                }
            }
    meta = json.dumps({"videos": videos}, sort_keys=True)
    atomic_write_text(root / "valid" / "meta.json", meta)
    logger.debug("wrote %d YouTube-VOS-like videos to %s", len(videos), root)
    return root


def _write_video(
    options: SynthOptions,
    index: int,
    sequence: SynthSequence,
    root: Path,
    vid: str,
    stride: int,
    tick: Callable[[], object],
) -> None:
    all_dir = root / "valid_all_frames" / "JPEGImages" / vid
    listed_dir = root / "valid" / "JPEGImages" / vid
    labels_dir = root / "valid" / "Annotations" / vid
    for folder in (all_dir, listed_dir, labels_dir):
        folder.mkdir(parents=True)
    starts = [obj.start for obj in sequence.scene.objects]
    for t, frame, labels in render_sequence(options, index, sequence):
        path = all_dir / f"{t:05d}.jpg"
        write_jpeg(path, frame)
        if t % stride == 0:
            shutil.copyfile(path, listed_dir / path.name)
        new_ids = [k for k, start in enumerate(starts, start=1) if start == t]
        if new_ids:
            given = np.where(np.isin(labels, new_ids), labels, 0).astype(np.uint8)
            write_label_png(labels_dir / f"{t:05d}.png", given)
        tick()


def _start_frames(options: SynthOptions, index: int, stride: int) -> list[int]:
    """First frame per object id: id 1 at 0; with 2+ objects, 1..K-1 of them enter late."""
    rng = options.rng(index, 4)
    k = int(rng.integers(min(2, options.max_objects), options.max_objects + 1))
    late_slots = list(range(stride, int(0.6 * (options.num_frames - 1)) + 1, stride))
    num_late = int(rng.integers(1, k)) if k >= 2 and late_slots else 0
    late = sorted(int(t) for t in rng.choice(late_slots, size=num_late)) if num_late else []
    return [0] * (k - num_late) + late


def _video_name(rng: np.random.Generator, taken: Container[str]) -> str:
    while True:
        name = rng.bytes(5).hex()
        if name not in taken:
            return name
