"""PCK for propagated keypoints (JHMDB), as the CRW / UVC / VFS evaluation scripts score it.

Pure NumPy, no file access. For every scored frame and joint with a prediction:

* the frame's scale is 0.6 times the diagonal of the bounding box of the ground-truth
  joints that have a prediction in that frame (``0.6 * ||(max - min)||`` over x and y);
* the joint's distance is the Euclidean pixel distance from its prediction to its
  ground truth, divided by the frame's scale;
* a joint counts as correct at threshold ``a`` when ``distance <= a`` (less than or
  equal, as the reference scripts do).

PCK of a joint is the percentage of correct ones among all its scored (frame, video)
pairs; the mean is the plain mean of the per-joint PCKs (not pooled over joints).
Joints without a prediction (their propagated label map carries no mass) are skipped:
they count neither as correct nor in the total. A frame whose scale is zero (a single
joint with a prediction) gives an infinite distance, i.e. a miss, as the division by
zero does in the reference scripts.
"""

from __future__ import annotations

import numpy as np

PCK_SCALE = 0.6
"""Factor of the ground-truth box diagonal that normalises distances."""


def frame_scales(gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """0.6 times the diagonal of the box around each frame's visible ground-truth joints.

    Args:
        gt: (T, J, 2) ground-truth (x, y) pixel positions.
        visible: (T, J) bool, joints that have a prediction.

    Returns:
        (T,) float64; 0 for a frame with fewer than two distinct visible positions and for
        a frame with no visible joint.
    """
    gt = np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    _check_shapes(gt, visible)
    lo = np.where(visible[..., None], gt, np.inf).min(axis=1)  # (T, 2)
    hi = np.where(visible[..., None], gt, -np.inf).max(axis=1)  # (T, 2)
    any_visible: np.ndarray = np.asarray(visible.any(axis=1))
    extent = np.where(any_visible[:, None], hi - lo, 0.0)
    return PCK_SCALE * np.linalg.norm(extent, axis=1)


def normalised_distances(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Prediction-to-truth distances divided by the frame scale (``frame_scales``).

    Args:
        pred: (T, J, 2) predicted (x, y) pixel positions (ignored where not visible).
        gt: (T, J, 2) ground-truth (x, y) pixel positions.
        visible: (T, J) bool, joints that have a prediction.

    Returns:
        (T, J) float64: NaN where not visible, inf where the frame scale is zero.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    _check_shapes(gt, visible)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    dist = np.linalg.norm(np.where(visible[..., None], pred - gt, 0.0), axis=2)  # (T, J)
    scale = frame_scales(gt, visible)[:, None]  # (T, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(scale > 0, dist / np.where(scale > 0, scale, 1.0), np.inf)
    return np.where(visible, out, np.nan)


def pck(distances: np.ndarray, threshold: float) -> np.ndarray:
    """Per-joint PCK (%) at ``threshold`` over all scored rows.

    Args:
        distances: (N, J) normalised distances, NaN = not scored (rows are frames of any
            video, stacked).
        threshold: the normalised distance a correct joint may reach (inclusive).

    Returns:
        (J,) float64 percentages; NaN for a joint never scored.
    """
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2:
        raise ValueError(f"distances must be (N, J), got {distances.shape}")
    scored = ~np.isnan(distances)
    total = scored.sum(axis=0)
    correct = (scored & (np.where(scored, distances, np.inf) <= threshold)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 100.0 * correct / np.maximum(total, 1), np.nan)


def mean_pck(per_joint: np.ndarray) -> float:
    """Mean of the per-joint PCKs, joints never scored left out (NaN if none was)."""
    values = np.asarray(per_joint, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _check_shapes(gt: np.ndarray, visible: np.ndarray) -> None:
    if gt.ndim != 3 or gt.shape[2] != 2:
        raise ValueError(f"gt must be (T, J, 2), got {gt.shape}")
    if visible.shape != gt.shape[:2]:
        raise ValueError(f"visible must be {gt.shape[:2]}, got {visible.shape}")
