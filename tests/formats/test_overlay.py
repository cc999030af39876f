"""Overlays: 0.3 * frame + 0.7 * palette colour on object pixels, frame elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from inovos.formats.overlay import overlay


def test_overlay_formula_hand_case() -> None:
    frame = np.array([[[100, 200, 50], [10, 20, 30]], [[0, 0, 0], [254, 254, 254]]], np.uint8)
    labels = np.array([[1, 0], [255, 2]])
    out = overlay(frame, labels)
    # id 1 = (128, 0, 0): 0.3 * (100, 200, 50) + 0.7 * (128, 0, 0) = (119.6, 60, 15)
    np.testing.assert_array_equal(out[0, 0], [120, 60, 15])
    np.testing.assert_array_equal(out[0, 1], [10, 20, 30])  # background unchanged
    np.testing.assert_array_equal(out[1, 0], [0, 0, 0])  # void unchanged
    # id 2 = (0, 128, 0): 0.3 * 254 + 0.7 * (0, 128, 0) = (76.2, 165.8, 76.2)
    np.testing.assert_array_equal(out[1, 1], [76, 166, 76])
    assert out.dtype == np.uint8 and frame[0, 0, 0] == 100  # input untouched


def test_overlay_alpha_extremes_and_contours() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    labels = np.zeros((6, 7), np.int64)
    labels[1:5, 1:6] = 3  # palette (128, 128, 0)
    np.testing.assert_array_equal(overlay(frame, labels, alpha=0.0), frame)
    full = overlay(frame, labels, alpha=1.0)
    assert (full[labels == 3] == [128, 128, 0]).all()
    outlined = overlay(frame, labels, alpha=0.5, contours=True)
    ring = (labels == 3).copy()
    ring[2:4, 2:5] = False  # the interior of the 4x5 block
    assert (outlined[ring] == [128, 128, 0]).all()
    np.testing.assert_array_equal(outlined[2:4, 2:5], overlay(frame, labels, alpha=0.5)[2:4, 2:5])
    np.testing.assert_array_equal(outlined[labels == 0], frame[labels == 0])


def test_overlay_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8))
