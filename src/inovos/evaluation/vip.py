"""Score propagated VIP parts: per-class IoU and mIoU over one confusion matrix, the CSV
and a text table.

Predictions: ``RESULTS/<video>/<frame>.png`` (class ids 0..19), as ``inovos propagate
--vip`` writes them. Every frame that has a category map is scored, the first one
included (CRW's script scores every prediction it finds, and its first prediction is
the given map read back); a prediction of another size is resized to the ground truth
with Pillow's NEAREST rule. Ground-truth pixels 255 are ignored (``evaluation.miou``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inovos.atomic import atomic_write_text
from inovos.errors import InovosError
from inovos.evaluation.miou import class_iou, confusion_matrix, mean_iou
from inovos.evaluation.results import format_table
from inovos.formats.palette import read_label_png
from inovos.formats.parts import CLASS_NAMES, NUM_CLASSES, read_category_png
from inovos.propagation.labels import resize_nearest

CSV_NAME = "miou_results.csv"


@dataclass(frozen=True)
class MiouResult:
    """mIoU of a set of videos.

    Attributes:
        hist: (20, 20) confusion matrix, rows ground truth.
        iou: (20,) per-class IoU in [0, 1], NaN for classes absent from both sides.
        miou: mean over the classes present.
        videos: videos scored.
        frames: frames scored.
        csv_path: where the CSV was written.
    """

    hist: np.ndarray
    iou: np.ndarray
    miou: float
    videos: int
    frames: int
    csv_path: Path | None = None


def read_prediction(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A predicted class map at the ground-truth size; ids must be classes.

    Raises:
        InovosError: missing, unreadable, or ids >= 20.
    """
    if not path.is_file():
        raise InovosError(f"{path}: prediction not found (run inovos propagate --vip)")
    pred = read_label_png(path)
    if pred.size and int(pred.max()) >= NUM_CLASSES:
        raise InovosError(f"{path}: predicted class id {int(pred.max())} >= {NUM_CLASSES}")
    return pred if pred.shape == tuple(size) else resize_nearest(pred, size)


def evaluate_vip(
    truths: Mapping[str, Sequence[tuple[str, Path]]], results_dir: str | Path
) -> MiouResult:
    """Score the predictions of the named videos and write ``RESULTS/miou_results.csv``.

    Args:
        truths: video name -> (frame name, category PNG) of every annotated frame.
        results_dir: RESULTS, holding ``<video>/<frame name>.png``.

    Raises:
        InovosError: a missing or bad prediction or category map.
    """
    results = Path(results_dir)
    if not results.is_dir():
        raise InovosError(f"{results}: results folder not found")
    hist = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    frames = 0
    for name, labelled in truths.items():
        for frame, gt_path in labelled:
            gt = read_category_png(gt_path)
            pred = read_prediction(results / name / f"{frame}.png", (gt.shape[0], gt.shape[1]))
            hist += confusion_matrix(gt, pred, NUM_CLASSES)
            frames += 1
    result = MiouResult(hist, class_iou(hist), mean_iou(hist), len(truths), frames)
    csv_path = results / CSV_NAME
    atomic_write_text(csv_path, csv_text(result))
    return dataclasses.replace(result, csv_path=csv_path)


def _rows(result: MiouResult) -> list[list[str]]:
    rows = [[name, f"{100 * v:.2f}"] for name, v in zip(CLASS_NAMES, result.iou, strict=True)]
    return [*rows, ["mIoU", f"{100 * result.miou:.2f}"]]


def csv_text(result: MiouResult) -> str:
    """CSV ``class,IoU`` (percent; ``nan`` for classes absent from both sides), then ``mIoU``."""
    return "class,IoU\n" + "".join(f"{a},{b}\n" for a, b in _rows(result))


def table(result: MiouResult) -> str:
    """The same as a text table."""
    return format_table(["class", "IoU"], _rows(result))
