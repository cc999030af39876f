"""Clips: resampling videos to the target frame rate and drawing each epoch's clips.

Resampling rule (torchvision's ``VideoClips``, as the original code uses it): a video
of n decoded frames whose container reports an average rate f is resampled to the
target rate r (8 fps) by frame index, not by time:

- when the step s = f / r is a whole number, every s-th frame: frames 0, s, 2s, ...
  (ceil(n / s) frames);
- otherwise floor(n * r / f) frames, frame i being decoded frame floor(i * s), with
  i * s computed in float32 as torchvision does (``arange(float32) * step``).

A clip is ``clip_len`` consecutive resampled frames, so a video offers
``max(0, K - clip_len + 1)`` clips for K resampled frames (every resampled frame can
start one).

This module is numpy only (no torch) so that index-building processes start fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np


def _whole_step(rate: float, fps: float) -> int | None:
    """s = rate / fps when it is a whole number (torchvision's ``step.is_integer()``), else None."""
    step = float(rate) / fps
    return int(step) if step.is_integer() else None


def num_resampled_frames(num_frames: int, rate: float, fps: float) -> int:
    """Number of frames of a video resampled to ``fps``.

    Args:
        num_frames: n, the decoded frames of the video.
        rate: f, the container's average frame rate.
        fps: r, the target rate.

    Returns:
        ceil(n / s) when s = f / r is whole, else floor(n * r / f).
    """
    if num_frames <= 0:
        return 0
    whole = _whole_step(rate, fps)
    if whole is not None:
        return -(-num_frames // whole)
    return math.floor(num_frames * fps / rate)


def num_clips(num_frames: int, rate: float, fps: float, clip_len: int) -> int:
    """Number of clips of ``clip_len`` resampled frames a video offers."""
    return max(0, num_resampled_frames(num_frames, rate, fps) - clip_len + 1)


def resample_indices(
    num_frames: int, rate: float, fps: float, start: int = 0, count: int | None = None
) -> np.ndarray:
    """Decoded-frame index of resampled frames ``start .. start+count-1``.

    Args:
        num_frames: n, the decoded frames of the video.
        rate: f, the container's average frame rate.
        fps: r, the target rate.
        start: first resampled frame.
        count: how many (default: all from ``start``).

    Returns:
        (count,) int64 indices into the video's frames (see the module docstring).
    """
    if count is None:
        count = num_resampled_frames(num_frames, rate, fps) - start
    k = np.arange(start, start + count, dtype=np.int64)
    whole = _whole_step(rate, fps)
    if whole is not None:
        return k * whole
    step = np.float32(float(rate) / fps)
    indices = np.floor(k.astype(np.float32) * step).astype(np.int64)
    return np.minimum(indices, num_frames - 1)


def sample_epoch_clips(
    counts: np.ndarray, clips_per_video: int, seed: int, epoch: int
) -> np.ndarray:
    """All clips of one epoch, shuffled: per video min(clips_per_video, #clips) distinct starts.

    Deterministic from (seed, epoch); every rank computes the same list.

    Args:
        counts: (V,) number of clips each video offers.
        clips_per_video: clips drawn per video and epoch.
        seed: run seed.
        epoch: epoch number.

    Returns:
        (M, 3) int64 rows (video, start, item_seed); item_seed drives the clip's augmentation.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch])))
    counts = np.asarray(counts, dtype=np.int64)
    m = clips_per_video
    small = np.flatnonzero((counts > 0) & (counts <= m))
    small_counts = counts[small]
    small_videos = np.repeat(small, small_counts)
    small_offsets = np.repeat(np.cumsum(small_counts) - small_counts, small_counts)
    small_starts = np.arange(len(small_videos), dtype=np.int64) - small_offsets
    big = np.flatnonzero(counts > m)
    chosen = _floyd_subsets(counts[big], m, rng)
    videos = np.concatenate([small_videos, np.repeat(big, m)])
    starts = np.concatenate([small_starts, chosen.reshape(-1)])
    order = rng.permutation(len(videos))
    item_seeds = rng.integers(0, 2**62, size=len(videos), dtype=np.int64)
    return np.stack([videos[order], starts[order], item_seeds], axis=1).astype(np.int64)


def _floyd_subsets(n: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """(len(n), m) distinct uniform draws from range(n_i) per row (Floyd's algorithm)."""
    chosen = np.zeros((len(n), m), dtype=np.int64)
    for step in range(m):
        j = n - m + step
        t = rng.integers(0, j + 1) if len(n) else np.zeros(0, dtype=np.int64)
        taken = (chosen[:, :step] == t[:, None]).any(axis=1)
        chosen[:, step] = np.where(taken, j, t)
    return chosen


def shard_for_rank(clips: np.ndarray, rank: int, world_size: int, drop_last: bool) -> np.ndarray:
    """The rows of ``clips`` for one rank; every rank gets the same number of rows.

    Rows are dealt round-robin (rank r gets rows r, r+W, ...). With ``drop_last`` the
    tail (fewer than W rows) is dropped; otherwise it is padded by wrapping to the start.
    """
    n = len(clips)
    per_rank = n // world_size if drop_last else -(-n // world_size)
    total = per_rank * world_size
    if total > n and n > 0:
        clips = np.concatenate([clips, np.resize(clips, (total - n, *clips.shape[1:]))])
    return clips[rank:total:world_size]


def _default_rank_world() -> tuple[int, int]:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ClipSampler:
    """Yields this rank's clips of the current epoch as ``(video, start, item_seed)`` tuples.

    Use as ``DataLoader(dataset, sampler=ClipSampler(...), batch_size=...)`` and call
    :meth:`set_epoch` before each epoch. Every rank yields the same number of clips and
    the ranks' clips are disjoint (when ``drop_last``; padding repeats a few).

    Args:
        counts: (V,) clips offered per video (``VideoIndex.num_clips()``).
        clips_per_video: clips drawn per video and epoch (5 in INO).
        seed: run seed.
        rank, world_size: default from ``torch.distributed`` when initialised, else 0, 1.
        drop_last: drop the tail that does not divide by world_size (else pad it).
    """

    def __init__(
        self,
        counts: np.ndarray,
        *,
        clips_per_video: int = 5,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = True,
    ) -> None:
        default_rank, default_world = _default_rank_world()
        self.counts = np.asarray(counts, dtype=np.int64)
        self.clips_per_video = clips_per_video
        self.seed = seed
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside world of {self.world_size}")
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose clips the next iteration yields."""
        self.epoch = epoch

    @property
    def clips_per_epoch(self) -> int:
        """Clips in one epoch over all ranks (before splitting)."""
        return int(np.minimum(self.counts, self.clips_per_video).sum())

    def __len__(self) -> int:
        n = self.clips_per_epoch
        return n // self.world_size if self.drop_last else -(-n // self.world_size)

    def epoch_clips(self) -> np.ndarray:
        """(len(self), 3) rows (video, start, item_seed) of this rank for the current epoch."""
        clips = sample_epoch_clips(self.counts, self.clips_per_video, self.seed, self.epoch)
        return shard_for_rank(clips, self.rank, self.world_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        yield from ((int(v), int(s), int(i)) for v, s, i in self.epoch_clips().tolist())
