"""Masks drawn over frames for people to look at: palette colours blended over objects."""

from __future__ import annotations

import functools

import numpy as np

from inovos.formats.palette import VOID_ID, davis_palette

_palette = functools.cache(davis_palette)


def overlay(
    frame: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.7,
    contours: bool = False,
) -> np.ndarray:
    """Blend palette colours over object pixels.

    Object pixels (id > 0 and not void 255) become (1 - alpha) * frame + alpha *
    palette colour of their id, rounded to the nearest integer; every other pixel
    keeps the frame's value. With `contours`, the object's boundary pixels (those
    with a 4-neighbour of another id) are drawn in the full palette colour.

    Args:
        frame: (H, W, 3) uint8 RGB.
        labels: (H, W) integer object ids.
        alpha: weight of the colour (0.7 by default).
        contours: also draw object outlines.

    Returns:
        (H, W, 3) uint8 RGB, a new array.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or labels.shape != frame.shape[:2]:
        raise ValueError(
            f"need frame (H, W, 3) and labels (H, W), got {frame.shape}, {labels.shape}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    ids = labels.astype(np.int64)
    objects = (ids > 0) & (ids != VOID_ID)
    colours = _palette()[np.clip(ids, 0, 255)]
    out = frame.copy()
    blended = (1.0 - alpha) * frame[objects].astype(np.float64) + alpha * colours[objects]
    out[objects] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    if contours:
        edge = objects & _boundary(ids)
        out[edge] = colours[edge]
    return out


def _boundary(ids: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with a 4-neighbour of a different id (image borders excluded)."""
    edge = np.zeros(ids.shape, bool)
    vertical = ids[1:] != ids[:-1]
    horizontal = ids[:, 1:] != ids[:, :-1]
    edge[1:] |= vertical
    edge[:-1] |= vertical
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    return edge
