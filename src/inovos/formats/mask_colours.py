"""Masks given as colour images: RGB PNGs and JPEGs read as object ids when unambiguous.

- Indexed or single-channel PNGs: their indices / values (``read_label_png``).
- RGB(A) PNG: every colour of the DAVIS palette is its index (void 255 included).
  Otherwise a few flat colours (at most ``MAX_COLOURS``, black among them) are
  objects: black is 0, the other colours get ids 1, 2, ... in the order in which
  they first appear (row by row).
- JPEG: compression blurs the colours, so they are snapped: the dominant colours
  (each at least ``MIN_SHARE`` of the pixels, merging colours within ``RADIUS``,
  rare halo colours near a frequent one skipped) must be told apart (two frequent
  colours closer than 2 x ``RADIUS`` are ambiguous) and lie near nearly every pixel
  (all but ``MAX_STRAY``); each pixel then takes its nearest dominant colour. Dominant
  colours within ``PALETTE_SNAP`` of distinct palette colours take the palette's ids;
  otherwise the flat-colour rule applies. Anything else is one clear error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from inovos.errors import InovosError
from inovos.formats.palette import davis_palette, read_label_png

logger = logging.getLogger(__name__)

MAX_COLOURS = 16
RADIUS = 40.0
MIN_SHARE = 0.001
MAX_STRAY = 0.02
# Palette colours lie at least 32 apart: within 16 of one, it is the only candidate.
PALETTE_SNAP = 16.0
_BIN = 8  # colour bins of 8 levels per channel for counting
_MAX_BINS = 4096
_ID_MODES = ("P", "L", "1", "I", "I;16")
_PALETTE = davis_palette().astype(np.int64)


def _pack(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours -> (...) int64 keys 0xRRGGBB."""
    c = rgb.astype(np.int64)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


_PALETTE_INDEX = {int(k): i for i, k in enumerate(_pack(davis_palette()))}


def read_mask(path: str | Path) -> np.ndarray:
    """An (H, W) uint8 id map from a palette / grayscale PNG, an RGB PNG or a JPEG.

    Raises:
        InovosError: unreadable, or colours that do not name objects unambiguously.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            fmt = image.format
            rgb = None if image.mode in _ID_MODES else np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise InovosError(f"{path}: annotation file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise InovosError(f"{path}: cannot read mask image ({err})") from None
    if rgb is None:
        return read_label_png(path)
    if fmt == "JPEG":
        rgb = snap_colours(rgb, path)
    return colours_to_ids(rgb, path)


def colours_to_ids(rgb: np.ndarray, path: str | Path = "mask") -> np.ndarray:
    """(H, W, 3) uint8 flat colours -> (H, W) uint8 ids (module docstring).

    Raises:
        InovosError: too many colours, or no black background.
    """
    keys = _pack(rgb)
    colours, first, inverse = np.unique(keys.ravel(), return_index=True, return_inverse=True)
    if all(int(k) in _PALETTE_INDEX for k in colours):
        lut = np.array([_PALETTE_INDEX[int(k)] for k in colours], dtype=np.uint8)
        return lut[inverse].reshape(keys.shape)
    if len(colours) > MAX_COLOURS:
        raise InovosError(
            f"{path}: colour mask with {len(colours)} colours: expected the DAVIS palette or "
            f"at most {MAX_COLOURS} flat colours (black = background); save object ids as an "
            "indexed or grayscale PNG"
        )
    if 0 not in colours:
        raise InovosError(f"{path}: colour mask without black: black must be the background")
    order = [i for i in np.argsort(first, kind="stable") if colours[i] != 0]
    lut = np.zeros(len(colours), dtype=np.uint8)
    for new_id, i in enumerate(order, start=1):
        lut[i] = new_id
    named = ", ".join(f"#{int(colours[i]):06x} -> {lut[i]}" for i in order)
    logger.info("%s: colours read as object ids: %s", path, named)
    return lut[inverse].reshape(keys.shape)


def dominant_colours(rgb: np.ndarray, path: str | Path = "mask") -> np.ndarray:
    """The dominant colours of a JPEG mask, most frequent first: (k, 3) int64.

    Colours are counted in bins of 8 levels per channel; a bin's support is the number
    of pixels within ``RADIUS`` / 2 of it. The best supported bin is taken (its centre:
    the mean colour of those pixels) and every bin within ``RADIUS`` of it set aside,
    and so on while the next support is at least ``MIN_SHARE`` of the pixels.
    A candidate within 2 x ``RADIUS`` of a colour already taken is the blend of an
    edge (compression halo) when it is much rarer than that colour, and is skipped.

    Raises:
        InovosError: no dominant colour, more than ``MAX_COLOURS``, or two frequent
            colours too similar to tell apart after compression.
    """
    flat = rgb.reshape(-1, 3)
    bins, counts = np.unique(flat // _BIN, axis=0, return_counts=True)
    if len(bins) > _MAX_BINS:
        raise InovosError(
            f"{path}: JPEG with {len(bins)} colour bins (a photo, not a mask?); save object "
            "ids as an indexed or grayscale PNG"
        )
    colours = bins.astype(np.float64) * _BIN + (_BIN - 1) / 2  # bin centres
    near = np.linalg.norm(colours[:, None] - colours[None], axis=2) <= RADIUS / 2
    support = near.astype(np.int64) @ counts  # pixels within RADIUS / 2 of each bin
    free = np.ones(len(colours), dtype=bool)
    centres: list[np.ndarray] = []
    taken: list[float] = []
    while free.any():
        i = int(np.argmax(np.where(free, support, -1)))
        if support[i] < MIN_SHARE * len(flat):
            break
        free &= np.linalg.norm(colours - colours[i], axis=1) > RADIUS
        close = [k for k, c in enumerate(centres) if np.linalg.norm(c - colours[i]) < 2 * RADIUS]
        if close and support[i] >= 0.5 * taken[close[0]]:
            raise InovosError(
                f"{path}: JPEG mask is ambiguous (two of its colours are too similar to tell "
                "apart after compression); save it as a PNG"
            )
        if not close:
            weights = counts * near[i]
            centres.append((colours * weights[:, None]).sum(axis=0) / weights.sum())
            taken.append(float(support[i]))
        if len(centres) > MAX_COLOURS:
            break
    if not centres or len(centres) > MAX_COLOURS:
        raise InovosError(
            f"{path}: JPEG with no few dominant colours (a photo, not a mask?); save object "
            "ids as an indexed or grayscale PNG"
        )
    return np.rint(np.array(centres)).astype(np.int64)


def snap_colours(rgb: np.ndarray, path: str | Path = "mask") -> np.ndarray:
    """JPEG colours -> flat colours: each pixel takes its nearest dominant colour.

    Raises:
        InovosError: as ``dominant_colours``, or too many pixels far (over 2 x
            ``RADIUS``) from every dominant colour.
    """
    centres = dominant_colours(rgb, path)
    pixels = rgb.reshape(-1, 3).astype(np.int64)
    dist = np.linalg.norm(pixels[:, None, :] - centres[None], axis=2)  # (N, k)
    nearest = dist.argmin(axis=1)
    stray = float((dist.min(axis=1) > 2 * RADIUS).mean())
    if stray > MAX_STRAY:
        raise InovosError(
            f"{path}: JPEG mask is ambiguous ({100 * stray:.1f}% of its pixels are far from "
            f"each of its {len(centres)} main colours); save it as a PNG"
        )
    flat = _to_palette(centres)
    return flat[nearest].reshape(rgb.shape).astype(np.uint8)


def _to_palette(centres: np.ndarray) -> np.ndarray:
    """Centres snapped to distinct DAVIS palette colours within ``PALETTE_SNAP``; else unchanged
    but for the one near black, which becomes black (the background)."""
    dist = np.linalg.norm(centres[:, None] - _PALETTE[None], axis=2)  # (k, 256)
    picks = dist.argmin(axis=1)
    if len(set(picks.tolist())) == len(picks) and (dist.min(axis=1) <= PALETTE_SNAP).all():
        return _PALETTE[picks]
    flat = centres.copy()
    flat[np.linalg.norm(centres, axis=1) <= RADIUS] = 0  # near black: the background
    return flat
