"""Small animated images for the HTML report: frame sampling, resizing, encoding, data: URIs.

Animated WebP (lossy) keeps 40 photo frames to a few hundred kilobytes; GIF is the
fallback where Pillow was built without WebP.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

FORMATS = ("webp", "gif")
_MIME = {"webp": "image/webp", "gif": "image/gif"}


@dataclass(frozen=True)
class AnimationOptions:
    """How the per-sequence animations are made.

    Attributes:
        max_frames: at most this many frames per sequence, evenly spaced (first and
            last included).
        width: width in pixels of each panel (ground truth, prediction); frames are
            never enlarged.
        fps: frames per second of the animation.
        image_format: "webp" (small, lossy) or "gif".
        quality: WebP quality 1..100 (ignored for GIF).
    """

    max_frames: int = 40
    width: int = 320
    fps: float = 8.0
    image_format: str = "webp"
    quality: int = 70

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {self.max_frames}")
        if self.width < 8:
            raise ValueError(f"width must be at least 8 pixels, got {self.width}")
        if not 0 < self.fps <= 100:
            raise ValueError(f"fps must lie in (0, 100], got {self.fps}")
        if self.image_format not in FORMATS:
            raise ValueError(f"image_format must be one of {FORMATS}, got {self.image_format!r}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must lie in 1..100, got {self.quality}")

    @property
    def mime(self) -> str:
        """MIME type of the encoded animation."""
        return _MIME[self.image_format]


def default_format() -> str:
    """ "webp" when this Pillow can write WebP, else "gif"."""
    return "webp" if features.check("webp") else "gif"


def sample_indices(n: int, k: int) -> list[int]:
    """At most k evenly spaced indices of range(n), sorted, first and last included."""
    if n <= 0:
        return []
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def fit_size(size: tuple[int, int], width: int) -> tuple[int, int]:
    """(H, W) scaled to at most `width` pixels wide, aspect kept, never enlarged."""
    h, w = size
    if w <= width:
        return h, w
    return max(1, round(h * width / w)), width


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8, antialiased."""
    if image.shape[:2] == tuple(size):
        return image
    resized = Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) ids -> (h, w) uint8 ids, nearest neighbour (no new ids appear)."""
    labels = labels.astype(np.uint8)
    if labels.shape == tuple(size):
        return labels
    resized = Image.fromarray(labels).resize((size[1], size[0]), Image.Resampling.NEAREST)
    return np.asarray(resized)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 6) -> np.ndarray:
    """Two (H, W, 3) uint8 images next to each other with a white gap: (H, 2W + gap, 3)."""
    if left.shape != right.shape:
        raise ValueError(f"panels differ in shape: {left.shape} vs {right.shape}")
    spacer = np.full((left.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def encode_animation(frames: Sequence[np.ndarray], options: AnimationOptions) -> bytes:
    """Encode equally sized (H, W, 3) uint8 frames as a looping animation.

    Returns:
        The bytes of an animated WebP or GIF file (per `options.image_format`).
    """
    if not frames:
        raise ValueError("no frames to encode")
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    duration = max(10, round(1000 / options.fps))
    buffer = io.BytesIO()
    if options.image_format == "webp":
        images[0].save(
            buffer,
            format="WEBP",
            save_all=True,
            append_images=images[1:],
            duration=duration,
            loop=0,
            quality=options.quality,
            method=2,
        )
    else:
        images[0].save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration,
            loop=0,
            optimize=False,
        )
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    """A base64 ``data:`` URI holding `data`."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
