"""What the DAVIS and YouTube-VOS look-alike writers share: options, output folder, sequences."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inovos.errors import InovosError
from inovos.synth.backgrounds import BACKGROUND_NAMES, background_frames
from inovos.synth.scene import Scene, render, sample_scene
from inovos.synth.textures import TEXTURE_NAMES, check_names


@dataclass(frozen=True)
class SynthOptions:
    """Validated generator options shared by every target.

    Attributes:
        num_sequences: sequences to write.
        num_frames: frames per sequence.
        size: (H, W) of the frames.
        max_objects: objects per sequence are drawn from [min(2, max), max].
        seed: the whole output is a function of it (and of the options).
        textures: photo names objects are cut from.
        backgrounds: clip names backgrounds come from.
    """

    num_sequences: int
    num_frames: int
    size: tuple[int, int]
    max_objects: int
    seed: int
    textures: tuple[str, ...]
    backgrounds: tuple[str, ...]

    @classmethod
    def checked(
        cls,
        num_sequences: int,
        num_frames: int,
        size: tuple[int, int],
        max_objects: int,
        seed: int,
        textures: Sequence[str] | None,
        backgrounds: Sequence[str] | None,
    ) -> SynthOptions:
        """Build the options, raising InovosError naming the first bad one."""
        if num_sequences < 1:
            raise InovosError(f"--sequences must be at least 1, got {num_sequences}")
        if num_frames < 2:
            raise InovosError(f"--frames must be at least 2, got {num_frames}")
        if min(size) < 16:
            raise InovosError(f"--height and --width must be at least 16, got {size[0]}x{size[1]}")
        if not 1 <= max_objects <= 254:
            raise InovosError(f"--objects must lie in 1..254, got {max_objects}")
        if seed < 0:
            raise InovosError(f"--seed must be non-negative, got {seed}")
        return cls(
            num_sequences,
            num_frames,
            (int(size[0]), int(size[1])),
            max_objects,
            seed,
            check_names(textures, TEXTURE_NAMES, "texture"),
            check_names(backgrounds, BACKGROUND_NAMES, "background"),
        )

    def rng(self, sequence: int, stream: int) -> np.random.Generator:
        """Independent generator for one sequence and one purpose (scene, background, ...)."""
        return np.random.default_rng([self.seed, sequence, stream])

    def progress(self, enabled: bool, desc: str) -> tqdm:
        """A progress bar over every frame to write."""
        total = self.num_sequences * self.num_frames
        return tqdm(total=total, desc=desc, unit="frame", disable=not enabled)


@dataclass(frozen=True)
class SynthSequence:
    """One drawn sequence: its scene and the clip behind it."""

    scene: Scene
    background: str


def sample_sequence(
    options: SynthOptions, index: int, starts: Sequence[int] | None = None
) -> SynthSequence:
    """Draw sequence `index`: objects (textures, shapes, paths), depth order and clip.

    Args:
        options: generator options.
        index: sequence number (each sequence has its own random streams).
        starts: first frame per object; None draws the number of objects and starts
            them all at frame 0.
    """
    rng = options.rng(index, 0)
    if starts is None:
        low = min(2, options.max_objects)
        starts = [0] * int(rng.integers(low, options.max_objects + 1))
    k = len(starts)
    pool = options.textures
    textures = [str(t) for t in rng.choice(pool, size=k, replace=len(pool) < k)]
    background = str(rng.choice(options.backgrounds))
    scene = sample_scene(rng, options.size, options.num_frames, textures, starts)
    return SynthSequence(scene, background)


def render_sequence(
    options: SynthOptions, index: int, sequence: SynthSequence
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (t, frame (H, W, 3) uint8, labels (H, W) uint8) for every frame, in order."""
    clip = background_frames(
        options.rng(index, 1), sequence.background, options.size, options.num_frames
    )
    for t, background in enumerate(clip):
        frame, labels = render(sequence.scene, t, background)
        yield t, frame, labels


def prepare_output_dir(out: str | Path, overwrite: bool, owned: Sequence[str]) -> Path:
    """Create the output folder, refusing a non-empty one unless `overwrite`.

    With `overwrite`, only the layout folders/files the writer creates (`owned`,
    relative to `out`) are removed first; anything else in `out` is left alone.

    Raises:
        InovosError: `out` is a file, non-empty without `overwrite`, or not writable.
    """
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise InovosError(f"{root}: output exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise InovosError(f"{root}: output folder is not empty (use --overwrite to replace it)")
        for name in owned:
            path = root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InovosError(f"{root}: cannot create the output folder ({err.strerror})") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise InovosError(f"{root}: output folder is not writable")
    return root
