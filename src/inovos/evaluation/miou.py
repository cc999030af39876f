"""Confusion-matrix mean IoU for part propagation (VIP), as the CRW / UVC scripts score it.

Pure NumPy, no file access. One confusion matrix is accumulated over every scored
pixel of every frame of every video (not averaged per image); ground-truth pixels
whose id is not a class (outside 0..C-1, e.g. the ignore id 255) are left out.
IoU of class c = hist[c, c] / (row sum + column sum - hist[c, c]); a class absent
from both the ground truth and the predictions gets NaN (0 / 0) and is left out of
the mean (``nanmean``), as in the reference scripts.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (ground truth, prediction) pairs over the pixels of one or more images.

    Args:
        gt: (...) integer ground-truth ids; pixels outside 0..num_classes-1 are skipped.
        pred: (...) integer predicted ids, same shape, all in 0..num_classes-1 where
            the ground truth is scored.
        num_classes: C.

    Returns:
        (C, C) int64, rows ground truth, columns prediction.

    Raises:
        ValueError: shapes differ, or a scored pixel has a predicted id outside 0..C-1.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} differ in shape")
    g = gt.astype(np.int64).ravel()
    p = pred.astype(np.int64).ravel()
    keep = (g >= 0) & (g < num_classes)
    g, p = g[keep], p[keep]
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f"predicted ids must lie in 0..{num_classes - 1}")
    counts = np.bincount(g * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def class_iou(hist: np.ndarray) -> np.ndarray:
    """Per-class IoU from a confusion matrix: (C,) float64, NaN for absent classes."""
    hist = np.asarray(hist, dtype=np.float64)
    if hist.ndim != 2 or hist.shape[0] != hist.shape[1]:
        raise ValueError(f"hist must be (C, C), got {hist.shape}")
    inter = np.diag(hist)
    union = hist.sum(axis=1) + hist.sum(axis=0) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), np.nan)


def mean_iou(hist: np.ndarray) -> float:
    """Mean of ``class_iou`` over the classes present on either side (NaN if none)."""
    iou = class_iou(hist)
    present = iou[~np.isnan(iou)]
    return float(present.mean()) if present.size else float("nan")
