"""The training dataset: decode a clip's frames, optionally turn them into views, collate.

Typical use (one rank)::

    index = build_video_index(cfg.source, root=..., cache_dir=...)
    sampler = ClipSampler(index.num_clips(), clips_per_video=5, seed=seed)
    dataset = ClipDataset(index, views=CpuViews(ViewConfig(...)))   # or views=None
    loader = DataLoader(dataset, batch_size=B, sampler=sampler, num_workers=W,
                        collate_fn=collate_clips, drop_last=True)
    for epoch in ...:
        sampler.set_epoch(epoch)
        for batch in loader: ...

With ``views`` a batch holds ``globals`` (T, B, 3, G, G) and ``locals``
(T, L, B, 3, S, S); with ``views=None`` it holds ``frames`` (B, T, Hmax, Wmax, 3) uint8
(zero padded) and ``sizes`` (B, 2) for :class:`~inovos.clips.views.BatchedViews`.
Every batch also has ``video`` (B,), ``start`` (B,), ``decode_failures`` (int) and
``failed_videos`` (list of paths) so that the loop can log videos that failed to decode.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from inovos.clips.decode import DecodeError, read_clip
from inovos.clips.sampling import resample_indices
from inovos.clips.video_index import VideoIndex
from inovos.clips.views import CpuViews

logger = logging.getLogger(__name__)


class ClipDataset(Dataset):
    """Clips of an indexed video collection.

    Items are addressed by ``(video, start, item_seed)`` tuples from
    :class:`~inovos.clips.sampling.ClipSampler` (or a plain int: the global clip number,
    which is also used as the seed). A clip whose video fails to decode is replaced by
    another clip drawn deterministically from ``item_seed``; the failure is logged once
    per video and worker and reported in the sample.

    Args:
        index: the video index.
        views: CPU view maker, or None to return the raw frames.
        decode_threads: decoder threads per clip.
        max_retries: replacement clips tried before giving up.
    """

    def __init__(
        self,
        index: VideoIndex,
        *,
        views: CpuViews | None = None,
        decode_threads: int = 2,
        max_retries: int = 20,
    ) -> None:
        self.index = index
        self.views = views
        self.decode_threads = decode_threads
        self.max_retries = max_retries
        self.counts = index.num_clips()
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        self._usable = np.flatnonzero(self.counts > 0)
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _resolve(self, ref: Any) -> tuple[int, int, int]:
        if isinstance(ref, (tuple, list)):
            return int(ref[0]), int(ref[1]), int(ref[2])
        number = int(ref)
        video = int(np.searchsorted(self.offsets, number, side="right") - 1)
        return video, number - int(self.offsets[video]), number

    def read_frames(self, video: int, start: int) -> np.ndarray:
        """(T, H, W, 3) uint8 frames of clip ``start`` of ``video``.

        Raises:
            DecodeError: the video cannot be decoded.
        """
        pts = self.index.pts[video]
        rate = float(self.index.rates[video])
        indices = resample_indices(len(pts), rate, self.index.fps, start, self.index.clip_len)
        path, kind = self.index.paths[video], self.index.kinds[video]
        frames = read_clip(path, kind, pts, indices, threads=self.decode_threads)
        if frames.shape[0] != self.index.clip_len:
            raise DecodeError(f"got {frames.shape[0]} frames, expected {self.index.clip_len}")
        return frames

    def _replacement(self, item_seed: int, attempt: int) -> tuple[int, int]:
        if len(self._usable) == 0:
            raise RuntimeError("no video of the index offers a clip")
        rng = np.random.default_rng([item_seed % (2**63), attempt])
        video = int(self._usable[rng.integers(len(self._usable))])
        return video, int(rng.integers(self.counts[video]))

    def __getitem__(self, ref: Any) -> dict[str, Any]:
        video, start, item_seed = self._resolve(ref)
        failed: list[str] = []
        frames = None
        for attempt in range(self.max_retries + 1):
            if video not in self._bad:
                try:
                    frames = self.read_frames(video, start)
                    break
                except DecodeError as err:
                    path = self.index.paths[video]
                    logger.warning("cannot decode %s (%s); using another clip", path, err)
                    self._bad.add(video)
                    failed.append(path)
            video, start = self._replacement(item_seed, attempt)
        if frames is None:
            raise RuntimeError(f"no decodable clip after {self.max_retries} replacements")
        sample: dict[str, Any] = {
            "video": video,
            "start": start,
            "decode_failures": len(failed),
            "failed_videos": failed,
        }
        clip = torch.from_numpy(np.ascontiguousarray(frames))
        if self.views is None:
            sample["frames"] = clip
        else:
            generator = torch.Generator().manual_seed(item_seed % (2**63))
            sample["globals"], sample["locals"] = self.views(clip, generator)
        return sample


def collate_clips(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples of :class:`ClipDataset` into a batch (layouts in the module docstring)."""
    batch: dict[str, Any] = {
        "video": torch.tensor([s["video"] for s in samples], dtype=torch.int64),
        "start": torch.tensor([s["start"] for s in samples], dtype=torch.int64),
        "decode_failures": sum(s["decode_failures"] for s in samples),
        "failed_videos": [p for s in samples for p in s["failed_videos"]],
    }
    if "globals" in samples[0]:
        batch["globals"] = torch.stack([s["globals"] for s in samples], dim=1)
        batch["locals"] = torch.stack([s["locals"] for s in samples], dim=2)
        return batch
    clips = [s["frames"] for s in samples]
    sizes = torch.tensor([list(c.shape[1:3]) for c in clips], dtype=torch.int64)
    h, w = int(sizes[:, 0].max()), int(sizes[:, 1].max())
    frames = torch.zeros(len(clips), clips[0].shape[0], h, w, 3, dtype=torch.uint8)
    for i, clip in enumerate(clips):
        frames[i, :, : clip.shape[1], : clip.shape[2]] = clip
    batch["frames"], batch["sizes"] = frames, sizes
    return batch
