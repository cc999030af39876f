"""Image file helpers: natural sorting, header-only sizes, RGB reading, JPEG writing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from inovos.atomic import atomic_open
from inovos.errors import InovosError

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders "frame2" before "frame10" (digit runs compare as numbers)."""
    parts = _DIGITS.split(name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p)


def list_images(folder: Path, extensions: tuple[str, ...] = FRAME_EXTENSIONS) -> list[Path]:
    """The image files of a folder (by extension, case-insensitive), naturally sorted.

    Raises:
        InovosError: the folder is missing or not a folder.
    """
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "not found"
        raise InovosError(f"{folder}: frame folder {what}")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions]
    return sorted(files, key=lambda p: natural_key(p.name))


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image read from its header only (no pixel decoding).

    Raises:
        InovosError: the file is missing or not a readable image.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise InovosError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise InovosError(f"{path}: cannot read image ({err})") from None
    return height, width


def read_rgb(path: Path, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image as RGB.

    Args:
        path: JPEG or PNG file.
        expected_size: (H, W) the image must have, or None.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        InovosError: missing, unreadable, truncated, or of the wrong size.
    """
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise InovosError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InovosError(f"{path}: cannot decode image ({err})") from None
    if expected_size is not None and rgb.shape[:2] != tuple(expected_size):
        raise InovosError(
            f"{path}: image is {rgb.shape[0]}x{rgb.shape[1]}, expected "
            f"{expected_size[0]}x{expected_size[1]} like the other frames"
        )
    return rgb


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Write (H, W, 3) uint8 RGB as a baseline JPEG (byte-identical for identical input)."""
    with atomic_open(path) as f:
        Image.fromarray(np.ascontiguousarray(rgb)).save(f, format="JPEG", quality=quality)
