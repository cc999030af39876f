"""The engine: one epoch of optimiser steps, with per-iteration masks and budgets.

Randomness that must agree across ranks or survive a resume is drawn from
generators seeded by (run seed, iteration), never from a global stream:

- the patch-mask count (and, in the original shared mode, its positions) is
  the same on every rank by construction, so no broadcast is needed;
- per-sample mask positions and on-device view parameters add the rank.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inovos.clips.patch_masks import make_patch_mask, sample_mask_count
from inovos.clips.views import BatchedViews
from inovos.train.logging_utils import MetricAverager
from inovos.train.step import TrainStep, ViewBatch

logger = logging.getLogger(__name__)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (SeedSequence mixing)."""
    state = np.random.SeedSequence([int(p) % 2**63 for p in parts]).generate_state(2, np.uint64)
    return int(state[0]) % 2**63


class MaskMaker:
    """The patch mask of each iteration (drawn from the run seed and the iteration).

    Args:
        seed: run seed.
        rank: this rank (used for per-sample positions only).
        clip_len: T.
        batch_size: B clips per rank.
        n_patches: N patches of a global crop.
        mask_prob: probability that an iteration masks (0.5).
        ratio: (min, max) of the masked fraction.
        per_sample: independent positions per (frame, sample) with the shared count.
        device: where the mask lives.
    """

    def __init__(
        self,
        seed: int,
        rank: int,
        clip_len: int,
        batch_size: int,
        n_patches: int,
        mask_prob: float = 0.5,
        ratio: tuple[float, float] = (0.1, 0.5),
        per_sample: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        self.seed, self.rank = seed, rank
        self.shape = (clip_len, batch_size, n_patches)
        self.mask_prob, self.ratio = mask_prob, ratio
        self.per_sample = per_sample
        self.device = device

    def __call__(self, iteration: int) -> Tensor | None:
        """(T, B, N) bool with M True per row (M the same on all ranks), or None (no mask)."""
        t, b, n = self.shape
        shared = torch.Generator().manual_seed(derived_seed(self.seed, 1, iteration))
        count = sample_mask_count(n, shared, no_mask_prob=1.0 - self.mask_prob, ratio=self.ratio)
        if count == 0:
            return None
        gen = shared
        if self.per_sample:
            gen = torch.Generator().manual_seed(derived_seed(self.seed, 2, iteration, self.rank))
        return make_patch_mask(count, t, b, n, gen, per_sample=self.per_sample, device=self.device)


def batch_to_views(
    batch: dict[str, Any],
    device: torch.device,
    batched_views: BatchedViews | None = None,
    generator: torch.Generator | None = None,
) -> ViewBatch:
    """A loader batch (see :mod:`inovos.clips.dataset`) as device views."""
    if "globals" in batch:
        g = batch["globals"].to(device, non_blocking=True)
        loc = batch["locals"].to(device, non_blocking=True)
    else:
        if batched_views is None:
            raise ValueError("the batch holds raw frames but no BatchedViews was given")
        frames = batch["frames"].to(device, non_blocking=True)
        g, loc = batched_views(frames, batch["sizes"], generator)
    return ViewBatch.from_views(g, loc)


@dataclass
class EpochResult:
    """What one (possibly partial) epoch did on this rank."""

    steps: int = 0
    iter_in_epoch: int = 0
    means: dict[str, float] = field(default_factory=dict)
    failed_videos: list[str] = field(default_factory=list)
    decode_failures: int = 0
    stop_reason: str | None = None
    last: dict[str, float] = field(default_factory=dict)


@dataclass
class EpochHooks:
    """Callbacks the epoch calls; each may be a no-op.

    Attributes:
        after_step: (epoch, iter_in_epoch, iteration, values) after every step; returns a
            stop reason ("max_iters", "max_minutes") or None. It also saves periodic
            checkpoints and logs.
        first_batch: called with the first batch's views of the epoch (picture).
    """

    after_step: Callable[[int, int, int, dict[str, float]], str | None]
    first_batch: Callable[[ViewBatch], None] = lambda views: None


def train_one_epoch(
    step: TrainStep,
    loader: Any,
    masks: MaskMaker,
    hooks: EpochHooks,
    *,
    epoch: int,
    start_iter: int,
    iters_per_epoch: int,
    seed: int = 0,
    rank: int = 0,
    batched_views: BatchedViews | None = None,
) -> EpochResult:
    """Run the steps of ``epoch`` from ``start_iter`` (the loader already skips used clips).

    Returns:
        The steps done, their mean values, decode failures, and why it stopped early (or None).
    """
    result = EpochResult(iter_in_epoch=start_iter)
    averager = MetricAverager()
    device = step.device
    for batch in loader:
        i = result.iter_in_epoch
        if i >= iters_per_epoch:
            break
        iteration = epoch * iters_per_epoch + i
        generator = None
        if batched_views is not None:
            generator = torch.Generator().manual_seed(derived_seed(seed, 3, iteration, rank))
        views = batch_to_views(batch, device, batched_views, generator)
        if result.steps == 0:
            hooks.first_batch(views)
        result.decode_failures += int(batch.get("decode_failures", 0))
        result.failed_videos.extend(batch.get("failed_videos", []))
        values = step(views, masks(iteration), iteration, epoch).values
        averager.update(values)
        result.steps += 1
        result.iter_in_epoch = i + 1
        result.last = values
        reason = hooks.after_step(epoch, i + 1, iteration + 1, values)
        if reason is not None:
            result.stop_reason = reason
            break
    result.means = averager.means()
    return result


__all__ = [
    "EpochHooks",
    "EpochResult",
    "MaskMaker",
    "batch_to_views",
    "derived_seed",
    "train_one_epoch",
]
