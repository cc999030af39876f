"""Confusion-matrix mIoU (VIP parts): a hand-computed case and a plain per-pixel loop."""

from __future__ import annotations

import numpy as np
import pytest

from inovos.evaluation.miou import class_iou, confusion_matrix, mean_iou


def test_hand_computed():
    gt = np.array([[0, 0], [1, 2]])
    pred = np.array([[0, 1], [1, 1]])
    hist = confusion_matrix(gt, pred, 4)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[2, 1] = 1
    assert (hist == expected).all()
    iou = class_iou(hist)
    assert iou[:3].tolist() == [0.5, pytest.approx(1 / 3), 0.0]  # class 2: in gt only -> 0
    assert np.isnan(iou[3])  # class 3 absent from both: left out of the mean
    assert mean_iou(hist) == pytest.approx((0.5 + 1 / 3 + 0.0) / 3)


def test_ground_truth_outside_the_classes_is_ignored():
    gt = np.array([[0, 255], [1, 1]])
    pred = np.array([[0, 3], [1, 0]])
    hist = confusion_matrix(gt, pred, 2)  # the 255 pixel (predicted 3) is not scored
    assert hist.tolist() == [[1, 0], [1, 1]]


def test_predictions_outside_the_classes_are_refused():
    with pytest.raises(ValueError):
        confusion_matrix(np.zeros((2, 2)), np.full((2, 2), 5), 3)


def test_matches_a_plain_per_pixel_loop_over_images():
    rng = np.random.default_rng(0)
    classes = 20
    images = []
    for shape in [(7, 9), (5, 5), (12, 3)]:
        gt = rng.integers(0, classes, size=shape)
        gt[rng.random(shape) < 0.1] = 255
        gt[gt == 7] = 6  # class 7 never in the ground truth
        pred = np.where(rng.random(shape) < 0.6, np.where(gt == 255, 0, gt), 0)
        pred[rng.random(shape) < 0.2] = rng.integers(0, classes)
        pred[pred == 19] = 18  # class 19 never predicted
        images.append((gt, pred))

    plain = np.zeros((classes, classes), np.int64)
    for gt, pred in images:
        for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
            if 0 <= g < classes:
                plain[g, p] += 1
    fast = sum(confusion_matrix(gt, pred, classes) for gt, pred in images)
    assert (fast == plain).all()

    ious = []
    for c in range(classes):
        inter = plain[c, c]
        union = plain[c, :].sum() + plain[:, c].sum() - inter
        if union:
            ious.append(inter / union)
    assert mean_iou(fast) == pytest.approx(sum(ious) / len(ious), abs=1e-15)
