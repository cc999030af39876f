"""Training logs: rank-0 progress bar, TensorBoard scalars, JSON lines, a picture of the views.

Every writer here is a no-op on ranks other than 0 (pass ``enabled=False``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inovos.atomic import atomic_open, atomic_write_bytes, write_error
from inovos.normalization import IMAGENET_MEAN, IMAGENET_STD

logger = logging.getLogger(__name__)


class MetricAverager:
    """Running means of scalar metrics (floats)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def update(self, values: dict[str, float]) -> None:
        """Add one value per key."""
        for key, value in values.items():
            self.sums[key] += float(value)
            self.counts[key] += 1

    def means(self) -> dict[str, float]:
        """Mean of every key seen so far."""
        return {k: self.sums[k] / self.counts[k] for k in self.sums if self.counts[k]}


class JsonlLog:
    """One JSON object per line in ``path`` (rank 0 only), one line per epoch.

    Each write rewrites the (small) file through the atomic writer, so a kill never
    leaves half a line; a partial last line left by older versions is dropped.
    """

    def __init__(self, path: str | Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        """Add ``record`` (numbers, strings, lists, dicts) as the last line."""
        if not self.enabled:
            return
        try:
            old = self.path.read_bytes()
        except FileNotFoundError:
            old = b""
        except OSError as err:
            raise write_error(self.path, err) from None
        old = old[: old.rfind(b"\n") + 1]  # complete lines only
        line = json.dumps(record, sort_keys=True) + "\n"
        atomic_write_bytes(self.path, old + line.encode("utf-8"))


class ScalarWriter:
    """TensorBoard scalars via ``torch.utils.tensorboard.SummaryWriter`` (rank 0 only)."""

    def __init__(self, log_dir: str | Path, enabled: bool = True) -> None:
        self._writer: Any = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(log_dir))

    def add_scalars(self, values: dict[str, float], step: int, prefix: str = "train/") -> None:
        """One scalar per key under ``prefix``."""
        if self._writer is None:
            return
        for key, value in values.items():
            self._writer.add_scalar(prefix + key, float(value), step)

    def flush(self) -> None:
        """Push pending events to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def format_seconds(seconds: float) -> str:
    """``3725`` -> ``"1:02:05"``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Rank-0 tqdm bar over one epoch showing loss terms, lr, clips/s and the run's ETA.

    Args:
        total: steps in this epoch.
        initial: steps already done in it (resume).
        desc: bar title.
        enabled: False on other ranks (nothing is shown).
    """

    def __init__(self, total: int, initial: int, desc: str, enabled: bool = True) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=True
            )

    def update(self, values: dict[str, float], clips_per_s: float, eta_s: float) -> None:
        """Advance by one step and show the latest values."""
        if self._bar is None:
            return
        shown = {k: f"{v:.4g}" for k, v in values.items()}
        shown["clips/s"] = f"{clips_per_s:.1f}"
        shown["eta"] = format_seconds(eta_s)
        self._bar.set_postfix(shown, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Throughput:
    """Clips per second over a sliding window and the run's estimated time left."""

    def __init__(self, window: int = 20) -> None:
        self.window = window
        self._times: list[float] = []
        self._clips: list[int] = []

    def tick(self, clips: int) -> None:
        """Record that a step covering ``clips`` clips (all ranks) just finished."""
        self._times.append(time.perf_counter())
        self._clips.append(clips)
        if len(self._times) > self.window + 1:
            self._times.pop(0)
            self._clips.pop(0)

    def clips_per_s(self) -> float:
        """Recent throughput (0 before two ticks)."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return sum(self._clips[1:]) / span if span > 0 else 0.0

    def seconds_per_step(self) -> float:
        """Recent time per step (nan before two ticks)."""
        if len(self._times) < 2:
            return float("nan")
        return (self._times[-1] - self._times[0]) / (len(self._times) - 1)


def _denormalise(images: Tensor) -> np.ndarray:
    """(n, 3, h, w) normalised -> (n, h, w, 3) uint8."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (images.detach().float().cpu() * std + mean).clamp(0, 1)
    return (x.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def save_views_png(
    globals_: Tensor, locals_: Tensor | None, path: str | Path, min_height: int = 128
) -> Path:
    """Save one clip's views as a grid: one row per frame, the global crop then its locals.

    Args:
        globals_: (T, 3, H, W) normalised global crops of one clip.
        locals_: (T, L, 3, h, w) normalised local crops of the same clip, or None.
        path: destination PNG.
        min_height: global crops smaller than this are enlarged by an integer factor.

    Returns:
        The written path.
    """
    from PIL import Image

    t, _, height, width = globals_.shape
    glob = _denormalise(globals_)
    n_local = 0 if locals_ is None else locals_.shape[1]
    loc = None if locals_ is None else _denormalise(locals_.flatten(0, 1))
    lh = 0 if locals_ is None else locals_.shape[-2]
    lw = 0 if locals_ is None else locals_.shape[-1]
    gap = 4
    canvas = np.full(
        (t * (height + gap) + gap, gap + width + n_local * (lw + gap) + gap, 3), 255, np.uint8
    )
    for i in range(t):
        y = gap + i * (height + gap)
        canvas[y : y + height, gap : gap + width] = glob[i]
        for j in range(n_local):
            assert loc is not None
            x = 2 * gap + width + j * (lw + gap)
            canvas[y : y + lh, x : x + lw] = loc[i * n_local + j]
    zoom = max(1, -(-min_height // height))  # tiny crops are enlarged (nearest) to be seen
    image = Image.fromarray(canvas)
    if zoom > 1:
        image = image.resize((image.width * zoom, image.height * zoom), Image.Resampling.NEAREST)
    path = Path(path)
    with atomic_open(path) as f:
        image.save(f, format="PNG")
    return path


__all__ = [
    "JsonlLog",
    "MetricAverager",
    "Progress",
    "ScalarWriter",
    "Throughput",
    "format_seconds",
    "save_views_png",
]
