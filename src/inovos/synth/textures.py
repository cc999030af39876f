"""Object appearance for synthetic scenes: real photos from scikit-image, cut into shapes."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np

from inovos.errors import InovosError

# Photos shipped inside scikit-image (no download). Gray ones are tinted per object.
TEXTURE_NAMES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
    "camera",
    "moon",
    "grass",
    "gravel",
    "brick",
    "coins",
    "clock",
)

SHAPE_KINDS: tuple[str, ...] = ("ellipse", "polygon", "blob")


def check_names(names: Sequence[str] | None, known: Sequence[str], what: str) -> tuple[str, ...]:
    """Validate a user's choice of names (None = all known ones).

    Raises:
        InovosError: an unknown name, or an empty choice.
    """
    if names is None:
        return tuple(known)
    chosen = tuple(dict.fromkeys(names))
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise InovosError(f"unknown {what} {unknown[0]!r}; choose from {', '.join(known)}")
    if not chosen:
        raise InovosError(f"no {what} chosen; choose from {', '.join(known)}")
    return chosen


@functools.lru_cache(maxsize=len(TEXTURE_NAMES))
def load_texture_source(name: str) -> np.ndarray:
    """The photo called `name` in skimage.data: (h, w, 3) uint8 (gray replicated)."""
    import skimage.data

    if name not in TEXTURE_NAMES:
        raise InovosError(f"unknown texture {name!r}; choose from {', '.join(TEXTURE_NAMES)}")
    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype != np.uint8:
        image = (
            (image > 0).astype(np.uint8) * 255 if image.dtype == bool else image.astype(np.uint8)
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3])
    image.setflags(write=False)
    return image


def sample_texture(rng: np.random.Generator, name: str, side: int) -> np.ndarray:
    """A random crop of a photo, resized to (side, side, 3) uint8.

    Crops cover 30-90% of the photo's short side; gray photos get a random tint,
    every texture a random flip and gain.
    """
    source = load_texture_source(name)
    h, w = source.shape[:2]
    crop = max(8, int(min(h, w) * rng.uniform(0.3, 0.9)))
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    patch = cv2.resize(
        source[y : y + crop, x : x + crop], (side, side), interpolation=cv2.INTER_AREA
    )
    if _is_gray(name):
        gain = rng.uniform(0.35, 1.25, size=3)  # a random tint
    else:
        gain = np.full(3, rng.uniform(0.85, 1.15))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return np.clip(patch.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=len(TEXTURE_NAMES))
def _is_gray(name: str) -> bool:
    image = load_texture_source(name)
    return bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())


def sample_shape(rng: np.random.Generator, side: int, kind: str | None = None) -> np.ndarray:
    """A random filled shape on a (side, side) canvas: float32 alpha in [0, 1], anti-aliased.

    Kinds: "ellipse", "polygon" (3-8 vertices, star-shaped), "blob" (smooth random radius).
    """
    kind = kind or SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
    r = (side - 2) / 2.0
    if kind == "ellipse":
        theta = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        a, b = rng.uniform(0.55, 0.98, size=2)
        radius = a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
    elif kind == "polygon":
        n = int(rng.integers(3, 9))
        theta = np.sort(rng.uniform(0, 2 * np.pi, size=n))
        radius = rng.uniform(0.55, 0.98, size=n)
    elif kind == "blob":
        theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        radius = np.full_like(theta, 0.7)
        for k in (2, 3, 4, 5):
            radius += rng.uniform(0.0, 0.25 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        radius = np.clip(radius, 0.2, 0.98)
    else:
        raise ValueError(f"unknown shape kind {kind!r}")
    points = np.stack([np.cos(theta), np.sin(theta)], axis=1) * (radius * r)[:, None] + side / 2
    canvas = np.zeros((side, side), np.uint8)
    shift = 4  # fixed-point sub-pixel vertices
    cv2.fillPoly(
        canvas, [np.round(points * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift
    )
    return canvas.astype(np.float32) / 255.0


def make_sprite(texture: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA sprite: (S, S, 4) float32, RGB in 0..255 times alpha, alpha in 0..1."""
    rgb = texture.astype(np.float32) * alpha[:, :, None]
    return np.ascontiguousarray(np.concatenate([rgb, alpha[:, :, None]], axis=2))
