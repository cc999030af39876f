"""Keypoint propagation on JHMDB as CRW runs it: joints as Gaussian label maps on the
feature grid, propagated like masks, read back as the weighted mean of each joint map's
top-3 cells.

- First frame: joint j at 0-based pixel (x, y) sits at (x * w / W, y * h / H) on the
  (h, w) feature grid. Its map is an unnormalised Gaussian (peak 1, sigma 0.5 cells)
  drawn on a window of ceil(6 sigma + 1) cells whose first cell is trunc(p - 3 sigma),
  centred on that cell + floor of half the window (CRW's ``draw_labelmap_np`` rule:
  the peak lands on round-half-up(p) for p >= 1.5); a joint whose window misses the grid
  has an empty map. Channel 0 (background) is 1 where no joint map has mass.
- Later frames: the propagated (16, h, w) map. A joint's position is the mean of the
  (x, y) cell indices of its 3 largest values weighted by those values (normalised by
  their sum), scaled back to pixels by W / w and H / h; a joint whose map has no mass
  has no position (NaN), and is not scored.

Predictions are written as ``OUT/<class>/<video>/joint_positions.mat`` with ``pos_img``
(2, 15, T) in 1-based pixels like the ground truth, NaN where a joint has no position.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from inovos.formats.joints import MAT_NAME, NUM_JOINTS, save_mat
from inovos.propagation.features import FeatureModel
from inovos.propagation.presets import input_size
from inovos.propagation.propagator import Propagator
from inovos.segment.frames import video_features
from inovos.segment.runner import SegmentOptions, SequenceResult, ensure_writable
from inovos.vos.jhmdb import JhmdbVideo

SIGMA = 0.5
"""Gaussian width of a joint's label map, in feature-grid cells (CRW, UVC)."""
READOUT_TOPK = 3
"""Cells of a joint map averaged into its position (CRW; VFS uses 5)."""


def gaussian_maps(points: np.ndarray, grid: tuple[int, int], sigma: float = SIGMA) -> np.ndarray:
    """Label maps of joints on the feature grid (module docstring): (1 + J, h, w) float32.

    Args:
        points: (J, 2) (x, y) positions in grid cells.
        grid: (h, w).
        sigma: Gaussian width in cells.
    """
    h, w = grid
    maps = np.zeros((1 + len(points), h, w), np.float32)
    n = math.ceil(6 * sigma + 1)  # window cells
    half = int((6 * sigma + 1) // 2)
    offsets = np.arange(n) - half
    g = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))  # (n, n)
    for j, (px, py) in enumerate(np.asarray(points, dtype=np.float64)):
        x0, y0 = math.trunc(px - 3 * sigma), math.trunc(py - 3 * sigma)
        x1, y1 = math.trunc(px + 3 * sigma + 1), math.trunc(py + 3 * sigma + 1)
        if x0 >= w or y0 >= h or x1 < 0 or y1 < 0:
            continue
        xs, ys = x0 + np.arange(n), y0 + np.arange(n)
        kx = (xs >= 0) & (xs < w) & (xs < x1)  # CRW paints cells x0 .. x1 - 1 only
        ky = (ys >= 0) & (ys < h) & (ys < y1)
        maps[1 + j][np.ix_(ys[ky], xs[kx])] = g[np.ix_(ky, kx)]
    maps[0] = maps[1:].sum(axis=0) == 0
    return maps


def pixels_to_grid(
    points: np.ndarray, frame_size: tuple[int, int], grid: tuple[int, int]
) -> np.ndarray:
    """(J, 2) 0-based pixel (x, y) -> grid cells: x * w / W, y * h / H."""
    scale = np.array([grid[1] / frame_size[1], grid[0] / frame_size[0]])
    return np.asarray(points, dtype=np.float64) * scale


def grid_to_pixels(
    points: np.ndarray, frame_size: tuple[int, int], grid: tuple[int, int]
) -> np.ndarray:
    """(J, 2) grid cells -> 0-based pixel (x, y): x * W / w, y * H / h."""
    scale = np.array([frame_size[1] / grid[1], frame_size[0] / grid[0]])
    return np.asarray(points, dtype=np.float64) * scale


def read_joints(soft: torch.Tensor, topk: int = READOUT_TOPK) -> np.ndarray:
    """Joint positions on the grid from a propagated map (module docstring).

    Args:
        soft: (1 + J, h, w) label map, channel 0 the background.
        topk: cells averaged per joint.

    Returns:
        (J, 2) float64 (x, y) in grid cells; NaN for joints whose map has no mass.
    """
    joints = soft[1:].double().flatten(1)  # (J, h*w)
    width = soft.shape[-1]
    k = min(topk, joints.shape[1])
    values, index = joints.topk(k, dim=1)  # (J, k)
    weights = values / values.sum(dim=1, keepdim=True)
    x = ((index % width).double() * weights).sum(dim=1)
    y = (torch.div(index, width, rounding_mode="floor").double() * weights).sum(dim=1)
    out = torch.stack([x, y], dim=1).cpu().numpy()
    out[(joints.sum(dim=1) == 0).cpu().numpy()] = np.nan
    return out


def propagate_video(
    model: FeatureModel,
    video: JhmdbVideo,
    options: SegmentOptions,
    sigma: float = SIGMA,
    tick: Callable[[], object] | None = None,
) -> np.ndarray:
    """Propagate the first frame's joints through the video (``tick()`` after each frame).

    Returns:
        (T, 15, 2) 0-based pixel (x, y) per frame, NaN where a joint has no position.
    """
    params = options.params
    patch = int(model.patch_size)
    size = input_size(*video.frame_size, params, patch)
    grid = (size[0] // patch, size[1] // patch)
    joint_ids = tuple(range(1, NUM_JOINTS + 1))
    prop = Propagator(params, joint_ids, patch, video.frame_size, options.device)
    first = pixels_to_grid(video.joints()[0], video.frame_size, grid)
    outs = []
    for feat in video_features(model, video, size, options):
        if prop.frames_seen == 0:
            soft = prop.step(feat, labels=torch.from_numpy(gaussian_maps(first, grid, sigma)))
        else:
            soft = prop.step(feat)
        outs.append(grid_to_pixels(read_joints(soft), video.frame_size, grid))
        if tick is not None:
            tick()
    return np.stack(outs)


def prediction_path(out_root: Path, name: str) -> Path:
    """Where the prediction of video ``name`` ("<class>/<video>") lives."""
    return out_root / name / MAT_NAME


def write_prediction(path: Path, joints: np.ndarray) -> None:
    """Write (T, 15, 2) 0-based joints as ``pos_img`` (2, 15, T), 1-based (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pos_img = np.transpose(joints, (2, 1, 0)) + 1.0
    save_mat(path, {"pos_img": pos_img})


def propagate_jhmdb(
    model: FeatureModel,
    videos: Sequence[JhmdbVideo],
    out_root: Path,
    options: SegmentOptions,
    progress: bool = True,
) -> list[SequenceResult]:
    """Propagate every video into ``out_root``; complete ones are skipped (resume).

    Args:
        model: the backbone (eval mode, on ``options.device``).
        videos: the videos, opened (so bad inputs stop the run before any output).
        out_root: output folder.
        options: protocol and run options.
        progress: show a progress bar over frames.
    """
    from tqdm import tqdm

    ensure_writable(out_root)
    results = []
    total = sum(v.num_frames for v in videos)
    with tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        for video in videos:
            bar.set_postfix_str(video.name)
            path = prediction_path(out_root, video.name)
            skip = options.resume and path.is_file()
            start = time.perf_counter()
            if not skip:
                write_prediction(path, propagate_video(model, video, options, tick=bar.update))
            seconds = time.perf_counter() - start
            results.append(SequenceResult(video.name, video.num_frames, seconds, skipped=skip))
            if skip:
                bar.update(video.num_frames)
    return results
