"""VIP's part label format: palette PNGs of class ids 0..19 (0 = background), 255 for
pixels to ignore."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inovos.errors import InovosError
from inovos.formats.palette import read_label_png

CLASS_NAMES: tuple[str, ...] = (
    "background",
    "hat",
    "hair",
    "sun-glasses",
    "upper-clothes",
    "dress",
    "coat",
    "socks",
    "pants",
    "gloves",
    "scarf",
    "skirt",
    "torso-skin",
    "face",
    "right-arm",
    "left-arm",
    "right-leg",
    "left-leg",
    "right-shoe",
    "left-shoe",
)
NUM_CLASSES = len(CLASS_NAMES)
IGNORE_ID = 255


def read_category_png(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W) uint8 class-id map, checked: ids in 0..19 or 255 (ignore).

    Raises:
        InovosError: unreadable, wrong size, or a class id >= 20 other than 255.
    """
    labels = read_label_png(path)
    if size is not None and labels.shape != tuple(size):
        raise InovosError(
            f"{path}: label map is {labels.shape[0]}x{labels.shape[1]}, frames are "
            f"{size[0]}x{size[1]}"
        )
    bad = np.unique(labels[(labels >= NUM_CLASSES) & (labels != IGNORE_ID)])
    if bad.size:
        raise InovosError(
            f"{path}: class id {int(bad[0])} is not a VIP class "
            f"(ids 0..{NUM_CLASSES - 1}, 0 = background; {IGNORE_ID} = ignore)"
        )
    return labels
