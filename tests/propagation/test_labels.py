"""Label maps (one-hot, downscale, readout) and the protocol presets (sizes, frame input)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from inovos.errors import InovosError
from inovos.normalization import DAVIS_EVAL_STD, IMAGENET_MEAN
from inovos.propagation.labels import (
    id_channels,
    labels_to_grid,
    minmax_normalise,
    nearest_indices,
    one_hot,
    readout,
    resize_nearest,
)
from inovos.propagation.presets import (
    PRESETS,
    frames_to_input,
    get_preset,
    input_size,
)

# ----------------------------------------------------------------------------- one-hot


def test_one_hot_channels_follow_object_ids_and_void_is_background():
    ids = np.array([[0, 7, 3], [255, 3, 0]], dtype=np.uint8)
    onehot = one_hot(ids, (7, 3))  # channel 1 = id 7, channel 2 = id 3
    expected = np.array(
        [
            [[1, 0, 0], [1, 0, 1]],  # background (0 and void 255)
            [[0, 1, 0], [0, 0, 0]],  # id 7
            [[0, 0, 1], [0, 1, 0]],  # id 3
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(onehot.numpy(), expected)


def test_unknown_or_bad_ids_are_user_errors():
    with pytest.raises(InovosError, match=r"\[5\]"):
        id_channels(np.array([[0, 5]], dtype=np.uint8), (1, 2))
    with pytest.raises(InovosError, match="distinct"):
        one_hot(np.zeros((2, 2), np.uint8), (1, 1))
    with pytest.raises(InovosError, match=r"1\.\.254"):
        one_hot(np.zeros((2, 2), np.uint8), (0,))


# ----------------------------------------------------------------------------- nearest


def pillow_nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """What Pillow's NEAREST resize reads for each output column (a ramp image resized)."""
    ramp = np.arange(n_in, dtype=np.int32)[None]
    return np.asarray(Image.fromarray(ramp, mode="I").resize((n_out, 1), Image.NEAREST))[0]


def test_nearest_indices_by_hand():
    # Output pixel o takes input floor((o + 0.5) * n_in / n_out) up to float rounding.
    assert nearest_indices(4, 2).tolist() == [1, 3]
    assert nearest_indices(2, 4).tolist() == [0, 0, 1, 1]
    assert nearest_indices(3, 2).tolist() == [0, 2]
    # Output 4: exactly 4.5 * 4 / 6 = 3.0, but the float sum 1/3 + 4 * 2/3 lands just below 3.
    assert nearest_indices(4, 6).tolist() == [0, 1, 1, 2, 2, 3]
    # Exact tie (output centre on an input border): the later input pixel.
    assert nearest_indices(2, 1).tolist() == [1]
    assert nearest_indices(5, 5).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("n_in", "n_out"), [(848, 854), (832, 854), (1280, 1920)])
def test_nearest_indices_equal_pillow_where_exact_arithmetic_differs(n_in, n_out):
    exact = ((2 * np.arange(n_out) + 1) * n_in) // (2 * n_out)
    ours = nearest_indices(n_in, n_out)
    np.testing.assert_array_equal(ours, pillow_nearest_indices(n_in, n_out))
    # Pillow accumulates the source coordinate in floating point and reads the earlier
    # pixel at some exact ties: these sizes have such columns.
    assert (ours != exact).any()


def test_nearest_indices_848_to_854_column_640_reads_635():
    assert nearest_indices(848, 854)[640] == 635


def test_nearest_indices_equal_pillow_for_all_small_sizes():
    for n_in in range(1, 70):
        for n_out in range(1, 70):
            np.testing.assert_array_equal(
                nearest_indices(n_in, n_out),
                pillow_nearest_indices(n_in, n_out),
                f"{n_in}->{n_out}",
            )


def test_resize_nearest_equals_pillow_on_an_id_map():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, size=(60, 106), dtype=np.uint8)
    for size in [(480, 854), (480, 848), (61, 107), (30, 53)]:
        expected = np.asarray(Image.fromarray(ids).resize(size[::-1], Image.NEAREST))
        np.testing.assert_array_equal(resize_nearest(ids, size), expected)


def test_resize_nearest_by_hand():
    ids = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.uint8)
    np.testing.assert_array_equal(resize_nearest(ids, (1, 2)), [[6, 8]])
    np.testing.assert_array_equal(resize_nearest(ids, (4, 2)), [[2, 4], [2, 4], [6, 8], [6, 8]])


# ----------------------------------------------------------------------------- downscale


def test_soft_downscale_is_bilinear_align_corners():
    # 3x3 -> 2x2 with align_corners True samples exactly the four corners.
    ids = np.array([[1, 0, 2], [0, 0, 0], [2, 0, 0]], dtype=np.uint8)
    soft = labels_to_grid(ids, (1, 2), (2, 2), "soft")
    np.testing.assert_array_equal(soft[1].numpy(), [[1, 0], [0, 0]])
    np.testing.assert_array_equal(soft[2].numpy(), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(soft[0].numpy(), [[0, 0], [0, 1]])
    # 1x4 -> 1x3 samples positions 0, 1.5, 3: the middle is half-half.
    soft = labels_to_grid(np.array([[1, 1, 2, 2]], np.uint8), (1, 2), (1, 3), "soft")
    np.testing.assert_allclose(soft[:, 0].numpy(), [[0, 0, 0], [1, 0.5, 0], [0, 0.5, 1]])


def test_hard_downscale_is_nearest_then_one_hot():
    ids = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, 255, 3]], dtype=np.uint8)
    hard = labels_to_grid(ids, (1, 2, 3), (2, 2), "hard")
    # rows: nearest_indices(3, 2) = [0, 2]; cols: nearest_indices(4, 2) = [1, 3]
    small = [[1, 2], [0, 3]]
    expected = np.stack([np.equal(small, c) for c in (0, 1, 2, 3)]).astype(np.float32)
    np.testing.assert_array_equal(hard.numpy(), expected)


# ----------------------------------------------------------------------------- readout


def test_minmax_normalise_by_hand():
    soft = torch.tensor([[[0.2, 0.6, 1.0]], [[-0.5, 0.0, -0.1]], [[0.3, 0.3, 0.3]]])
    out = minmax_normalise(soft)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.5, 1.0]]))
    torch.testing.assert_close(out[1], soft[1])  # no positive value: unchanged
    torch.testing.assert_close(out[2], torch.ones(1, 3))  # positive constant -> 1


def test_readout_upsamples_normalises_and_maps_ids():
    # Grid 1x2, patch 2 -> 2x4, frame 3x6. Object 5 (channel 1) is larger than object
    # 9 (channel 2) everywhere, but after min-max normalisation each wins on its side.
    soft = torch.tensor([[[0.0, 0.0]], [[0.9, 0.8]], [[0.1, 0.5]]])
    # Upsampled (align_corners False) columns: ch1 [0.9, 0.875, 0.825, 0.8] -> [1, .75, .25, 0]
    # ch2 [0.1, 0.2, 0.4, 0.5] -> [0, .25, .75, 1]; argmax [5, 5, 9, 9].
    ids = readout(soft, (5, 9), patch=2, frame_size=(3, 6))
    # nearest_indices(4, 6) = [0, 1, 1, 2, 2, 3] (Pillow NEAREST)
    expected = np.array([[5, 5, 5, 9, 9, 9]] * 3, dtype=np.uint8)
    assert ids.dtype == np.uint8
    np.testing.assert_array_equal(ids, expected)


def test_readout_ties_take_the_first_channel():
    soft = torch.tensor([[[1.0]], [[1.0]], [[0.0]]])
    np.testing.assert_array_equal(readout(soft, (4, 6), 1, (1, 1)), [[0]])


def test_readout_of_striped_annotation_is_the_annotation():
    # Vertical stripes one patch wide: every grid sample falls inside a stripe, and
    # after upsampling a pixel keeps >= 9/16 of its own stripe (at 2-D block corners
    # the neighbours could outweigh it, so stripes, not blocks).
    stripes = np.array([[0, 2, 2, 8, 0, 8]], dtype=np.uint8)
    ids = np.kron(np.repeat(stripes, 4, axis=0), np.ones((8, 8), np.uint8))  # 32x48
    for mode in ("soft", "hard"):
        grid = labels_to_grid(ids, (2, 8), (4, 6), mode)
        np.testing.assert_array_equal(readout(grid, (2, 8), 8, (32, 48)), ids)


# ----------------------------------------------------------------------------- presets


def test_presets_follow_the_spec_table():
    ino, yt, dino = get_preset("ino-davis"), get_preset("ino-ytvos"), get_preset("dino-davis")
    assert (ino.n_last, ino.topk, ino.n_context, ino.radius, ino.temperature) == (6, 5, 10, 40, 0.1)
    assert (yt.n_last, yt.topk, yt.n_context, yt.radius, yt.temperature) == (6, 5, 20, 50, 0.1)
    assert (dino.n_last, dino.topk, dino.n_context, dino.radius) == (1, 5, 7, 12)
    assert (ino.label_mode, yt.label_mode, dino.label_mode) == ("soft", "soft", "hard")
    assert set(PRESETS) == {"ino-davis", "ino-ytvos", "dino-davis", "crw-jhmdb", "crw-vip"}
    for name, side in (("crw-jhmdb", 320), ("crw-vip", 560)):
        crw = get_preset(name)
        assert (crw.topk, crw.n_context, crw.radius, crw.temperature) == (10, 20, 12, 0.07)
        assert (crw.square_size, crw.repeat_first) == (side, True)
    changed = dataclasses.replace(ino, topk=10, radius=3)
    assert (changed.topk, changed.radius, changed.n_context) == (10, 3, 10)
    with pytest.raises(InovosError, match="unknown propagation preset"):
        get_preset("davis")
    with pytest.raises(InovosError, match="topk"):
        dataclasses.replace(ino, topk=0)


@pytest.mark.parametrize(
    ("preset", "size", "expected"),
    [
        ("ino-davis", (480, 854), (480, 848)),  # 854 floored to a multiple of 8
        ("ino-davis", (480, 910), (480, 904)),
        ("ino-davis", (854, 480), (848, 480)),  # portrait
        ("ino-davis", (481, 857), (480, 848)),  # 480 * 857 // 481 = 855 -> 848
        ("ino-davis", (600, 600), (480, 480)),
        ("dino-davis", (480, 854), (480, 832)),
        ("dino-davis", (360, 640), (480, 832)),  # 853.3 -> 832
        ("ino-ytvos", (1080, 1920), (720, 1280)),
        ("ino-ytvos", (816, 1920), (720, 1280)),
        ("ino-ytvos", (720, 1280), (720, 1280)),
        ("ino-ytvos", (405, 719), (400, 712)),
        ("ino-ytvos", (1080, 1921), (1080, 1920)),  # only the exact sizes are overridden
    ],
)
def test_input_size_rule(preset, size, expected):
    assert input_size(*size, get_preset(preset), patch=8) == expected


@pytest.mark.parametrize(
    ("preset", "size", "expected"),
    [
        ("ino-davis", (480, 854), (476, 840)),  # 476 * 854 // 480 = 846 -> 840
        ("ino-davis", (854, 480), (840, 476)),
        ("dino-davis", (480, 854), (476, 840)),  # 64 is not a multiple of 14: floor to 14
        ("ino-ytvos", (1080, 1920), (714, 1274)),  # the 720x1280 override floored to 14
        ("ino-ytvos", (405, 719), (392, 714)),
    ],
)
def test_input_size_with_patch_14_floors_every_side_to_the_patch(preset, size, expected):
    out = input_size(*size, get_preset(preset), patch=14)
    assert out == expected and out[0] % 14 == 0 and out[1] % 14 == 0


def test_input_size_keeps_the_grid_exact_for_patch_16():
    assert input_size(405, 719, get_preset("ino-ytvos"), patch=16) == (400, 704)
    with pytest.raises(InovosError, match="patch"):
        input_size(7, 700, get_preset("ino-ytvos"), patch=8)


def test_frames_to_input_normalises_and_resizes():
    frame = np.full((6, 10, 3), (255, 0, 51), dtype=np.uint8)
    x = frames_to_input(frame, (4, 8))
    assert x.shape == (1, 3, 4, 8) and x.dtype == torch.float32
    for c, value in enumerate((1.0, 0.0, 0.2)):
        expected = (value - IMAGENET_MEAN[c]) / DAVIS_EVAL_STD[c]
        torch.testing.assert_close(x[0, c], torch.full((4, 8), expected), rtol=0, atol=1e-6)
    batch = np.stack([frame, frame[::-1]])
    assert frames_to_input(batch, (6, 10)).shape == (2, 3, 6, 10)


def test_frames_to_input_resize_is_bilinear_half_pixel():
    # A horizontal ramp 0, 255 -> 4 columns: samples at -0.25, 0.25, 0.75, 1.25 (clamped).
    frame = np.zeros((1, 2, 3), dtype=np.uint8)
    frame[0, 1] = 255
    x = frames_to_input(frame, (1, 4))
    raw = x[0, 0, 0] * DAVIS_EVAL_STD[0] + IMAGENET_MEAN[0]
    torch.testing.assert_close(raw, torch.tensor([0.0, 0.25, 0.75, 1.0]), rtol=0, atol=1e-6)
