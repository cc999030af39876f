"""Colour masks: RGB PNGs and JPEGs read as object ids when unambiguous."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inovos.errors import InovosError
from inovos.formats.mask_colours import colours_to_ids, read_mask
from inovos.formats.palette import davis_palette, write_label_png


def _ids(size: tuple[int, int] = (60, 80)) -> np.ndarray:
    """Three objects (ids 1, 2, 5) and a void band on background 0."""
    ids = np.zeros(size, np.uint8)
    ids[5:25, 5:30] = 1
    ids[30:55, 40:75] = 5
    ids[10:20, 50:70] = 2
    ids[26:28, :] = 255
    return ids


def test_palette_colours_in_an_rgb_png_are_their_indices(tmp_path: Path) -> None:
    ids = _ids()
    Image.fromarray(davis_palette()[ids]).save(tmp_path / "rgb.png")
    write_label_png(tmp_path / "indexed.png", ids)
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), ids)
    np.testing.assert_array_equal(read_mask(tmp_path / "indexed.png"), ids)
    rgba = np.concatenate([davis_palette()[ids], np.full((*ids.shape, 1), 255, np.uint8)], axis=2)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), ids)


def test_a_few_flat_colours_get_ids_in_order_of_appearance() -> None:
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, 3] = (255, 255, 255)  # first seen (row 0): id 1
    rgb[2, 0] = (255, 0, 0)  # row 2: id 2
    rgb[3, 5] = (0, 255, 0)  # row 3: id 3
    rgb[1, 1] = (255, 255, 255)
    expected = np.zeros((4, 6), np.uint8)
    expected[0, 3] = expected[1, 1] = 1
    expected[2, 0], expected[3, 5] = 2, 3
    np.testing.assert_array_equal(colours_to_ids(rgb), expected)


def test_flat_colour_errors() -> None:
    many = np.arange(20 * 3, dtype=np.uint8).reshape(1, 20, 3) * 4 + 1
    many[0, 0] = 0
    with pytest.raises(InovosError, match="20 colours"):
        colours_to_ids(many)
    no_black = np.full((2, 2, 3), 200, np.uint8)
    no_black[0, 0] = (10, 200, 30)
    with pytest.raises(InovosError, match="black"):
        colours_to_ids(no_black)


def test_jpeg_of_a_palette_mask_snaps_back(tmp_path: Path) -> None:
    ids = _ids((120, 160))
    ids[ids == 255] = 0
    Image.fromarray(davis_palette()[ids]).save(tmp_path / "m.jpg", quality=85)
    got = read_mask(tmp_path / "m.jpg")
    assert set(np.unique(got).tolist()) == {0, 1, 2, 5}
    assert (got != ids).mean() < 0.01  # only blended edge pixels may move


def test_jpeg_of_flat_colours_and_ambiguous_jpegs(tmp_path: Path) -> None:
    rgb = np.zeros((80, 80, 3), np.uint8)
    rgb[10:40, 10:40] = (250, 250, 250)
    rgb[45:75, 45:75] = (20, 220, 240)
    Image.fromarray(rgb).save(tmp_path / "flat.jpg", quality=90)
    got = read_mask(tmp_path / "flat.jpg")
    expected = np.zeros((80, 80), np.uint8)
    expected[10:40, 10:40], expected[45:75, 45:75] = 1, 2
    assert (got != expected).mean() < 0.01
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    with pytest.raises(InovosError, match=r"ambiguous|a photo"):
        read_mask(tmp_path / "photo.jpg")
    close = np.zeros((60, 60, 3), np.uint8)
    close[:, 20:40] = (200, 0, 0)
    close[:, 40:] = (230, 30, 20)  # too similar to tell apart after compression
    Image.fromarray(close).save(tmp_path / "close.jpg")
    with pytest.raises(InovosError, match="ambiguous"):
        read_mask(tmp_path / "close.jpg")
