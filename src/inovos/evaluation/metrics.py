"""DAVIS-2017 region (J) and boundary (F) measures and their per-object statistics.

Pure NumPy (plus OpenCV for the binary dilation); no file access. The numbers are
bit-for-bit those of the official davis2017-evaluation code: the same integer
counts, the same float64 operations in the same order.

Two levels:

* plain single-object functions (`region_similarity`, `boundary_map`,
  `boundary_f_measure`), written to read like the definition;
* `frame_scores`, which scores every object of one frame at once and only touches
  each object's bounding box (boundary pixels never leave the box grown by one
  pixel, so cropping there changes no count).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

BOUNDARY_THRESHOLD = 0.008
"""Boundary tolerance as a fraction of the image diagonal (DAVIS default)."""


@functools.lru_cache(maxsize=16)
def disk(radius: int) -> np.ndarray:
    """The digital disk {(y, x): y^2 + x^2 <= radius^2} (as `skimage.morphology.disk`).

    Args:
        radius: integer radius r >= 0.

    Returns:
        (2r+1, 2r+1) uint8 array of 0/1, read-only (cached).
    """
    offsets = np.arange(-radius, radius + 1)
    kernel = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.uint8)
    kernel.flags.writeable = False
    return kernel


def boundary_tolerance(height: int, width: int, bound_th: float = BOUNDARY_THRESHOLD) -> int:
    """Dilation radius d = ceil(bound_th * sqrt(H^2 + W^2)) in pixels (8 for 480x854).

    Computed with `np.linalg.norm` of the shape, as the official code does, so the
    ceiling sees the very same float.
    """
    return int(np.ceil(bound_th * np.linalg.norm((height, width))))


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """Jaccard index J = |S and G| / |S or G|; 1 when both masks are empty.

    Args:
        pred: (H, W) predicted mask (nonzero = object).
        gt: (H, W) ground-truth mask.

    Returns:
        J in [0, 1].
    """
    pred, gt = pred.astype(bool), gt.astype(bool)
    union = int(np.count_nonzero(pred | gt))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(pred & gt)) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a binary mask (DAVIS `_seg2bmap` at full size).

    A pixel is on the boundary when it differs from its east, south or south-east
    neighbour; only neighbours inside the image are compared, so the last row uses
    the east test alone, the last column the south test alone, and the bottom-right
    pixel is never a boundary pixel.

    Args:
        mask: (H, W) binary mask (nonzero = object).

    Returns:
        (H, W) bool boundary map.
    """
    m = mask.astype(bool)
    b = np.zeros_like(m)
    b[:, :-1] |= m[:, :-1] != m[:, 1:]
    b[:-1, :] |= m[:-1, :] != m[1:, :]
    b[:-1, :-1] |= m[:-1, :-1] != m[1:, 1:]
    return b


def f_from_counts(n_pred: int, n_gt: int, pred_match: int, gt_match: int) -> float:
    """Boundary F-measure from boundary pixel counts, with the DAVIS conventions.

    Precision = pred_match / n_pred, recall = gt_match / n_gt; no predicted and
    some true boundary -> P 1, R 0; some predicted and no true -> P 0, R 1;
    neither -> P = R = 1. F = 2PR / (P + R), 0 when P + R = 0.

    Args:
        n_pred: boundary pixels of the prediction, |b(S)|.
        n_gt: boundary pixels of the ground truth, |b(G)|.
        pred_match: |b(S) and dil(b(G))|.
        gt_match: |b(G) and dil(b(S))|.

    Returns:
        F in [0, 1].
    """
    if n_pred == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_pred > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_pred == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision, recall = pred_match / n_pred, gt_match / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray, tolerance: int | None = None) -> float:
    """Boundary F-measure of one object, computed on the whole frame (plain version).

    Args:
        pred: (H, W) predicted mask (nonzero = object).
        gt: (H, W) ground-truth mask.
        tolerance: dilation radius in pixels; default `boundary_tolerance(H, W)`.

    Returns:
        F in [0, 1].
    """
    if tolerance is None:
        tolerance = boundary_tolerance(*gt.shape[:2])
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    kernel = disk(tolerance)
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), kernel).astype(bool)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel).astype(bool)
    return f_from_counts(
        int(np.count_nonzero(pred_b)),
        int(np.count_nonzero(gt_b)),
        int(np.count_nonzero(pred_b & gt_dil)),
        int(np.count_nonzero(gt_b & pred_dil)),
    )


def _row_col_span(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (r0, r1, c0, c1), inclusive, of a binary mask; None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    r0, r1 = int(rows[0]), int(rows[-1])
    cols = np.flatnonzero(mask[r0 : r1 + 1].any(axis=0))
    return r0, r1, int(cols[0]), int(cols[-1])


def _object_scores(pred: np.ndarray, gt: np.ndarray, kernel: np.ndarray) -> tuple[float, float]:
    """J and F of one object inside a crop that holds both masks grown by one pixel.

    Args:
        pred: (h, w) bool prediction crop.
        gt: (h, w) bool ground-truth crop.
        kernel: (2d+1, 2d+1) uint8 disk.

    Returns:
        (J, F) of the object.
    """
    n_inter = int(np.count_nonzero(pred & gt))
    n_union = int(np.count_nonzero(pred)) + int(np.count_nonzero(gt)) - n_inter
    j = 1.0 if n_union == 0 else n_inter / n_union
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    n_pred, n_gt = int(np.count_nonzero(pred_b)), int(np.count_nonzero(gt_b))
    if n_pred == 0 or n_gt == 0:
        return j, f_from_counts(n_pred, n_gt, 0, 0)
    if np.array_equal(pred_b, gt_b):
        return j, f_from_counts(n_pred, n_gt, n_pred, n_gt)
    # Dilate both boundary maps in one call: a 2-channel image, one channel each.
    dilated = cv2.dilate(np.stack([pred_b, gt_b], axis=-1).view(np.uint8), kernel)
    pred_match = int(np.count_nonzero(pred_b & dilated[..., 1].view(bool)))
    gt_match = int(np.count_nonzero(gt_b & dilated[..., 0].view(bool)))
    return j, f_from_counts(n_pred, n_gt, pred_match, gt_match)


def frame_scores(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    num_objects: int,
    tolerance: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every object 1..K of one frame, each computed on its bounding box.

    Ids above `num_objects` in the ground truth (e.g. void 255) are background;
    ids missing from the prediction are empty masks. Equals calling
    `region_similarity` and `boundary_f_measure` on `labels == k` for each k.

    Args:
        pred_labels: (H, W) integer map of predicted object ids.
        gt_labels: (H, W) integer map of ground-truth object ids.
        num_objects: K, the number of objects scored (ids 1..K).
        tolerance: boundary dilation radius; default `boundary_tolerance(H, W)`.

    Returns:
        (j, f): two (K,) float64 arrays.
    """
    if pred_labels.shape != gt_labels.shape:
        raise ValueError(f"shapes differ: {pred_labels.shape} vs {gt_labels.shape}")
    height, width = gt_labels.shape
    if tolerance is None:
        tolerance = boundary_tolerance(height, width)
    kernel = disk(tolerance)
    j = np.ones(num_objects)
    f = np.ones(num_objects)
    for k in range(1, num_objects + 1):
        spans = [
            s
            for s in (_row_col_span(pred_labels == k), _row_col_span(gt_labels == k))
            if s is not None
        ]
        if not spans:
            continue  # both empty: J = F = 1
        r0 = max(min(s[0] for s in spans) - 1, 0)
        r1 = min(max(s[1] for s in spans) + 2, height)
        c0 = max(min(s[2] for s in spans) - 1, 0)
        c1 = min(max(s[3] for s in spans) + 2, width)
        pred = pred_labels[r0:r1, c0:c1] == k
        gt = gt_labels[r0:r1, c0:c1] == k
        j[k - 1], f[k - 1] = _object_scores(pred, gt, kernel)
    return j, f


def decay_bin_edges(n: int) -> np.ndarray:
    """Frame indices splitting n values into the 4 DAVIS decay bins.

    ids = round(linspace(1, n, 5)) - 1, with halves rounded up (the official code
    adds 1e-10 before rounding); bin i is values[ids[i] : ids[i+1] + 1], both ends
    included. (The official code then casts to uint8, which wraps above 256
    frames; here the indices stay exact.)

    Returns:
        (5,) int64 array.
    """
    return (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)


def object_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall and decay of one object's per-frame J (or F) values.

    Args:
        values: (T,) per-frame values in [0, 1], T >= 1.

    Returns:
        (mean, recall, decay): mean(v); mean(v > 0.5); mean(bin 0) - mean(bin 3).
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {values.shape}")
    ids = decay_bin_edges(values.size)
    first = values[ids[0] : ids[1] + 1]
    last = values[ids[3] : ids[4] + 1]
    # nanmean as in the official code (identical to mean when there is no NaN).
    mean = float(np.nanmean(values))
    recall = float(np.nanmean(values > 0.5))
    decay = float(np.nanmean(first) - np.nanmean(last))
    return mean, recall, decay


def mean_of(values: list[float]) -> float:
    """Mean of a list of per-object statistics, as NumPy computes it (NaN if empty)."""
    return float(np.mean(np.asarray(values, dtype=np.float64))) if values else math.nan
