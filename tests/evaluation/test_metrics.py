"""J / F / statistics: hand-computed cases, a plain reference of the official code, vos-benchmark."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from skimage.morphology import disk as skimage_disk
from vos_benchmark.evaluator import Evaluator
from vos_benchmark.utils import _seg2bmap as vb_seg2bmap

from inovos.evaluation.metrics import (
    boundary_f_measure,
    boundary_map,
    boundary_tolerance,
    decay_bin_edges,
    disk,
    f_from_counts,
    frame_scores,
    object_statistics,
    region_similarity,
)

# --------------------------------------------------------------------------------------
# A plain re-statement of davis2017-evaluation (metrics.py / utils.py), whole-frame.


def ref_seg2bmap(seg: np.ndarray) -> np.ndarray:
    seg = seg.astype(bool)
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def ref_iou(gt: np.ndarray, seg: np.ndarray) -> float:
    gt, seg = gt.astype(bool), seg.astype(bool)
    inters, union = np.sum(seg & gt), np.sum(seg | gt)
    return 1 if np.isclose(union, 0) else inters / union


def ref_f_measure(fg: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(fg.shape))
    fg_b, gt_b = ref_seg2bmap(fg), ref_seg2bmap(gt)
    kernel = skimage_disk(bound_pix).astype(np.uint8)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), kernel)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel)
    gt_match, fg_match = gt_b * fg_dil, fg_b * gt_dil
    n_fg, n_gt = np.sum(fg_b), np.sum(gt_b)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = np.sum(fg_match) / float(n_fg), np.sum(gt_match) / float(n_gt)
    if precision + recall == 0:
        return 0
    return 2 * precision * recall / (precision + recall)


def ref_statistics(values: np.ndarray) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        m = np.nanmean(values)
        o = np.nanmean(values > 0.5)
    ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.uint8)
    bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
    return m, o, np.nanmean(bins[0]) - np.nanmean(bins[3])


# --------------------------------------------------------------------------------------
# Hand-computed cases.


def test_region_similarity_by_hand() -> None:
    pred = np.array([[1, 1, 0], [0, 0, 0]])
    gt = np.array([[0, 1, 1], [0, 0, 0]])
    assert region_similarity(pred, gt) == pytest.approx(1 / 3)
    assert region_similarity(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    assert region_similarity(np.zeros((4, 4)), np.eye(4)) == 0.0
    assert region_similarity(np.eye(4), np.eye(4)) == 1.0


def test_boundary_map_by_hand() -> None:
    mask = np.array(
        [
            [0, 0, 0, 0, 0],
            [0, 1, 1, 0, 0],
            [0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0],
        ]
    )
    expected = np.array(
        [
            [1, 1, 1, 0, 0],
            [1, 0, 1, 0, 0],
            [1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(boundary_map(mask), expected)


def test_boundary_map_last_row_and_column_rules() -> None:
    # The object touches the bottom and right edges: no boundary drawn there, the
    # last row uses only the east test, the last column only the south test.
    mask = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    expected = np.array([[1, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(boundary_map(mask), expected)
    assert not boundary_map(np.ones((1, 1))).any()
    np.testing.assert_array_equal(boundary_map(np.array([[0, 1, 1, 0]])), [[1, 0, 1, 0]])


def test_disk_equals_skimage_and_tolerance_values() -> None:
    for radius in range(13):
        np.testing.assert_array_equal(disk(radius), skimage_disk(radius))
    assert boundary_tolerance(480, 854) == 8
    assert boundary_tolerance(1080, 1920) == 18
    assert boundary_tolerance(8, 8) == 1


def _squares(shift: int, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((size, size), np.uint8)
    gt[2:5, 2:5] = 1
    pred = np.zeros_like(gt)
    pred[2:5, 2 + shift : 5 + shift] = 1
    return pred, gt


def test_f_measure_by_hand() -> None:
    # Two 3x3 squares two columns apart; each boundary ring has 12 pixels.
    # Tolerance 1 (a plus-shaped disk): the 4 ring pixels on the far side of each
    # square are 2 px from the other ring -> P = R = 8/12 -> F = 2/3.
    pred, gt = _squares(shift=2)
    assert boundary_map(pred).sum() == boundary_map(gt).sum() == 12
    assert boundary_tolerance(8, 8) == 1
    assert boundary_f_measure(pred, gt) == pytest.approx(2 / 3)
    assert boundary_f_measure(pred, gt, tolerance=1) == pytest.approx(2 / 3)
    # Tolerance 2 reaches them (distance exactly 2 counts) -> F = 1.
    assert boundary_f_measure(pred, gt, tolerance=2) == 1.0
    # J: 3 shared pixels out of 15.
    assert region_similarity(pred, gt) == pytest.approx(0.2)
    j, f = frame_scores(pred, gt, 1)
    assert j[0] == pytest.approx(0.2) and f[0] == pytest.approx(2 / 3)
    j, f = frame_scores(pred, gt, 1, tolerance=2)
    assert f[0] == 1.0


def test_precision_recall_conventions() -> None:
    assert f_from_counts(0, 5, 0, 0) == 0.0  # no predicted boundary: P 1, R 0
    assert f_from_counts(5, 0, 0, 0) == 0.0  # no true boundary: P 0, R 1
    assert f_from_counts(0, 0, 0, 0) == 1.0  # neither: P = R = 1
    assert f_from_counts(4, 4, 0, 0) == 0.0  # P + R = 0
    assert f_from_counts(4, 2, 2, 1) == pytest.approx(0.5)
    assert f_from_counts(4, 8, 4, 2) == pytest.approx(2 * 1 * 0.25 / 1.25)
    blob = np.zeros((6, 6), np.uint8)
    blob[1:4, 1:4] = 1
    empty = np.zeros_like(blob)
    assert boundary_f_measure(empty, blob) == 0.0
    assert boundary_f_measure(blob, empty) == 0.0
    assert boundary_f_measure(empty, empty) == 1.0
    j, f = frame_scores(np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8), 2)
    np.testing.assert_array_equal(j, [1.0, 1.0])
    np.testing.assert_array_equal(f, [1.0, 1.0])


def test_statistics_on_ten_values() -> None:
    # ids = round(linspace(1, 10, 5)) - 1 = [0, 2, 5, 7, 9] -> bins [0..2], ..., [7..9]
    np.testing.assert_array_equal(decay_bin_edges(10), [0, 2, 5, 7, 9])
    values = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    mean, recall, decay = object_statistics(values)
    assert mean == pytest.approx(0.55)
    assert recall == pytest.approx(0.5)  # 0.5 itself is not > 0.5
    assert decay == pytest.approx(0.9 - 0.2)


def test_decay_rounds_halves_up() -> None:
    # n = 3: linspace = 1, 1.5, 2, 2.5, 3 -> ids 0, 1, 1, 2, 2 (not banker's 0, 1, 1, 1, 2)
    np.testing.assert_array_equal(decay_bin_edges(3), [0, 1, 1, 2, 2])
    mean, recall, decay = object_statistics(np.array([1.0, 0.5, 0.0]))
    assert decay == pytest.approx(1.0 * 0.75 - 0.0)
    assert recall == pytest.approx(1 / 3) and mean == pytest.approx(0.5)
    assert object_statistics(np.array([0.7])) == (pytest.approx(0.7), 1.0, 0.0)


def test_statistics_equal_the_official_code() -> None:
    rng = np.random.default_rng(0)
    for n in [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 22, 38, 67, 101, 255]:
        values = rng.random(n)
        values[rng.random(n) < 0.2] = 1.0
        assert object_statistics(values) == tuple(float(v) for v in ref_statistics(values))


# --------------------------------------------------------------------------------------
# Random frames: optimised all-objects scoring vs the plain reference and vos-benchmark.


def _blobs(rng: np.random.Generator, shape: tuple[int, int], k: int) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    labels = np.zeros(shape, np.uint8)
    for obj in range(1, k + 1):
        if rng.random() < 0.15:
            continue  # absent in this frame
        cy, cx = rng.uniform(-0.1, 1.1) * h, rng.uniform(-0.1, 1.1) * w
        ry, rx = rng.uniform(0.5, 0.4 * h + 1), rng.uniform(0.5, 0.4 * w + 1)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        blob |= rng.random(shape) < 0.01 * (rng.random() < 0.3)  # speckles sometimes
        labels[blob] = obj
    return labels


def _perturb(rng: np.random.Generator, gt: np.ndarray, k: int) -> np.ndarray:
    choice = rng.integers(6)
    if choice == 0:
        return gt.copy()
    if choice == 1:
        return np.roll(gt, (int(rng.integers(-5, 6)), int(rng.integers(-5, 6))), (0, 1))
    if choice == 2:
        out = np.zeros_like(gt)
        for obj in range(1, k + 1):
            out[cv2.erode((gt == obj).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = obj
        return out
    if choice == 3:
        return cv2.dilate(gt, np.ones((5, 5), np.uint8))
    if choice == 4:
        return np.zeros_like(gt)
    return _blobs(rng, gt.shape, k)


SHAPES = [(1, 1), (1, 7), (5, 1), (2, 2), (9, 17), (31, 23), (48, 64), (123, 457)]


@pytest.mark.parametrize("shape", SHAPES)
def test_frame_scores_equal_reference_and_vos_benchmark(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(hash(shape) % 2**32)
    for _ in range(6 if shape[0] * shape[1] > 10_000 else 25):
        k = int(rng.integers(1, 5))
        gt = _blobs(rng, shape, k)
        if rng.random() < 0.3:
            gt[rng.random(shape) < 0.05] = 255  # void: background here
        pred = _perturb(rng, np.where(gt == 255, 0, gt), k)
        j, f = frame_scores(pred, gt, k)
        ev = Evaluator()
        ev.objects_in_gt.update(range(1, k + 1))
        ev.feed_frame(pred, np.where(gt == 255, 0, gt))
        for obj in range(1, k + 1):
            p, g = pred == obj, gt == obj
            assert j[obj - 1] == ref_iou(g, p)
            assert f[obj - 1] == ref_f_measure(p, g)
            assert j[obj - 1] == region_similarity(p, g)
            assert f[obj - 1] == boundary_f_measure(p, g)
            np.testing.assert_array_equal(boundary_map(p), vb_seg2bmap(p))
            assert abs(j[obj - 1] - ev.object_iou[obj][0]) < 1e-6
            assert abs(f[obj - 1] - ev.boundary_f[obj][0]) < 1e-6


def test_frame_scores_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        frame_scores(np.zeros((3, 4), np.uint8), np.zeros((4, 3), np.uint8), 1)
