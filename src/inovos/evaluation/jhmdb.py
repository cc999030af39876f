"""Score propagated JHMDB keypoints: PCK per joint and mean, the CSV and a text table.

Predictions: ``RESULTS/<class>/<video>/joint_positions.mat`` (``pos_img`` 2 x 15 x T,
1-based pixels, NaN = no position), as ``inovos propagate --jhmdb`` writes them. Every
frame but the first (the given one) is scored, up to the shorter of the prediction and
the ground truth; a joint without a predicted position is skipped (``evaluation.pck``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inovos.atomic import atomic_write_text
from inovos.errors import InovosError
from inovos.evaluation.pck import mean_pck, normalised_distances, pck
from inovos.evaluation.results import format_table
from inovos.formats.joints import JOINT_NAMES, MAT_NAME, read_predicted_positions

THRESHOLDS: tuple[float, ...] = (0.1, 0.2)
CSV_NAME = "pck_results.csv"


@dataclass(frozen=True)
class PckResult:
    """PCK of a set of videos.

    Attributes:
        thresholds: the PCK thresholds, e.g. (0.1, 0.2).
        per_joint: (len(thresholds), 15) percentages (NaN for a joint never scored).
        means: per threshold, the mean over joints.
        videos: videos scored.
        scored: (15,) scored (frame, video) pairs per joint.
        csv_path: where the CSV was written (None if not written).
    """

    thresholds: tuple[float, ...]
    per_joint: np.ndarray
    means: tuple[float, ...]
    videos: int
    scored: np.ndarray
    csv_path: Path | None = None


def video_distances(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Normalised distances of one video's scored frames (all but the first).

    Args:
        gt: (T, 15, 2) 0-based ground truth.
        pred: (T', 15, 2) 0-based predictions, NaN = no position.

    Returns:
        (min(T, T') - 1, 15) distances, NaN where not scored.
    """
    n = min(len(gt), len(pred))
    gt, pred = gt[1:n], pred[1:n]
    visible = np.isfinite(pred).all(axis=2)
    return normalised_distances(np.nan_to_num(pred), gt, visible)


def score(distances: Sequence[np.ndarray], thresholds: Sequence[float] = THRESHOLDS) -> PckResult:
    """PCK from the stacked per-video distances."""
    rows = np.concatenate(list(distances)) if distances else np.zeros((0, len(JOINT_NAMES)))
    per_joint = np.stack([pck(rows, a) for a in thresholds])
    means = tuple(mean_pck(p) for p in per_joint)
    scored = (~np.isnan(rows)).sum(axis=0)
    return PckResult(tuple(thresholds), per_joint, means, len(distances), scored)


def evaluate_jhmdb(
    truths: Mapping[str, np.ndarray],
    results_dir: str | Path,
    thresholds: Sequence[float] = THRESHOLDS,
) -> PckResult:
    """Score the predictions of the named videos and write ``RESULTS/pck_results.csv``.

    Args:
        truths: video name ("<class>/<video>") -> (T, 15, 2) 0-based ground-truth joints
            (``JhmdbVideo.joints()``).
        results_dir: RESULTS, holding ``<name>/joint_positions.mat`` per video.
        thresholds: PCK thresholds.

    Raises:
        InovosError: a missing or unreadable prediction.
    """
    results = Path(results_dir)
    if not results.is_dir():
        raise InovosError(f"{results}: results folder not found")
    distances = []
    for name, gt in truths.items():
        pos = read_predicted_positions(results / name / MAT_NAME)
        distances.append(video_distances(gt, np.transpose(pos, (2, 1, 0)) - 1.0))
    result = score(distances, thresholds)
    csv_path = results / CSV_NAME
    atomic_write_text(csv_path, csv_text(result))
    return dataclasses.replace(result, csv_path=csv_path)


def _rows(result: PckResult) -> list[list[str]]:
    rows = []
    for j, name in enumerate(JOINT_NAMES):
        rows.append([name, *(f"{v:.2f}" for v in result.per_joint[:, j]), str(result.scored[j])])
    rows.append(["mean", *(f"{m:.2f}" for m in result.means), str(int(result.scored.sum()))])
    return rows


def _headers(result: PckResult) -> list[str]:
    return ["joint", *(f"PCK@{a:g}" for a in result.thresholds), "scored"]


def csv_text(result: PckResult) -> str:
    """CSV: one row per joint and a last ``mean`` row; PCK in percent."""
    lines = [",".join(_headers(result))] + [",".join(r) for r in _rows(result)]
    return "\n".join(lines) + "\n"


def table(result: PckResult) -> str:
    """The same as a text table."""
    return format_table(_headers(result), _rows(result))
