"""PCK (JHMDB keypoints): hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from inovos.evaluation.pck import frame_scales, mean_pck, normalised_distances, pck

# One frame, three joints: box 30 x 40, diagonal 50, scale 0.6 * 50 = 30 pixels.
GT = np.array([[[0.0, 0.0], [30.0, 0.0], [0.0, 40.0]]])
ALL = np.ones((1, 3), bool)


def test_scale_is_point_six_of_the_box_diagonal():
    assert frame_scales(GT, ALL).tolist() == [30.0]
    # only visible joints span the box: joints 0 and 1 -> box 30 x 0
    assert frame_scales(GT, np.array([[True, True, False]])) == pytest.approx([18.0])


def test_perfect_prediction_is_100():
    dist = normalised_distances(GT, GT, ALL)
    assert dist.tolist() == [[0.0, 0.0, 0.0]]
    assert pck(dist, 0.1).tolist() == [100.0, 100.0, 100.0]
    assert mean_pck(pck(dist, 0.1)) == 100.0


def test_offset_of_exactly_the_threshold_counts_as_correct():
    pred = GT.copy()
    pred[0, 2] += [3.0, 0.0]  # 3 px = 0.1 * 30 exactly
    pred[0, 1] += [0.0, 6.0]  # 6 px = 0.2 * 30 exactly
    dist = normalised_distances(pred, GT, ALL)
    assert dist[0].tolist() == [0.0, 0.2, 0.1]
    assert pck(dist, 0.1).tolist() == [100.0, 0.0, 100.0]  # <=, not <
    assert pck(dist, 0.2).tolist() == [100.0, 100.0, 100.0]
    pred[0, 2] += [0.01, 0.0]  # a hair beyond
    assert pck(normalised_distances(pred, GT, ALL), 0.1).tolist() == [100.0, 0.0, 0.0]


def test_joints_without_prediction_are_skipped():
    pred = GT.copy()
    pred[0, 2] = [500.0, 500.0]  # far off, but not visible: not scored at all
    visible = np.array([[True, True, False]])
    dist = normalised_distances(pred, GT, visible)
    assert np.isnan(dist[0, 2])
    per_joint = pck(dist, 0.1)
    assert per_joint[:2].tolist() == [100.0, 100.0]
    assert np.isnan(per_joint[2])
    assert mean_pck(per_joint) == 100.0


def test_mean_is_over_joints_not_pooled():
    # joint 0 scored twice (one hit, one miss), joint 1 once (hit): mean 75, pooled 66.7
    dist = np.array([[0.05, 0.0], [0.5, np.nan]])
    per_joint = pck(dist, 0.1)
    assert per_joint.tolist() == [50.0, 100.0]
    assert mean_pck(per_joint) == 75.0


def test_zero_scale_frame_is_a_miss():
    gt = np.array([[[5.0, 5.0], [9.0, 9.0]]])
    visible = np.array([[True, False]])  # one visible joint: the box is a point
    dist = normalised_distances(gt, gt, visible)
    assert dist[0, 0] == np.inf and np.isnan(dist[0, 1])
    assert pck(dist, 0.5)[0] == 0.0


def test_bad_shapes():
    with pytest.raises(ValueError):
        normalised_distances(GT[:, :2], GT, ALL)
    with pytest.raises(ValueError):
        frame_scales(GT, ALL[:, :2])
