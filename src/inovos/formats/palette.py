"""The DAVIS / Pascal VOC palette and indexed (palette) PNG reading and writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from inovos.atomic import atomic_open
from inovos.errors import InovosError

VOID_ID = 255


def davis_palette(n: int = 256) -> np.ndarray:
    """The bit-interleaved Pascal VOC palette: (n, 3) uint8; 0 black, 1 (128,0,0), ..."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


_PALETTE_BYTES = davis_palette().tobytes()


def write_label_png(path: str | Path, labels: np.ndarray) -> None:
    """Write an (H, W) map of object ids as an indexed PNG with the DAVIS palette, atomically."""
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("object ids must lie in 0..255")
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(_PALETTE_BYTES)
    with atomic_open(path) as f:
        image.save(f, format="PNG", optimize=False)


def read_label_png(path: str | Path) -> np.ndarray:
    """Read an (H, W) uint8 map of object ids from an indexed or grayscale PNG.

    Palette PNGs give their indices; single-channel PNGs give their values.
    RGB PNGs are rejected: their colours would need a palette lookup.
    """
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "1", "I", "I;16"):
                raise InovosError(
                    f"{path}: annotation PNG has mode {image.mode}; "
                    "expected an indexed (palette) or single-channel PNG of object ids"
                )
            labels = np.array(image)
    except FileNotFoundError:
        raise InovosError(f"{path}: annotation file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise InovosError(f"{path}: cannot read annotation PNG ({err})") from None
    if labels.dtype != np.uint8:
        if labels.max(initial=0) > 255:
            raise InovosError(f"{path}: object ids above 255")
        labels = labels.astype(np.uint8)
    return labels
