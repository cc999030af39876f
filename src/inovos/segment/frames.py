"""Per-frame features of a video for the task runners (JHMDB keypoints, VIP parts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch

from inovos.propagation.features import FeatureModel
from inovos.propagation.presets import frames_to_input
from inovos.segment.background import read_ahead
from inovos.segment.feature_cache import batch_features
from inovos.segment.runner import SegmentOptions


class FrameSource(Protocol):
    """A video whose frames are decoded on demand."""

    @property
    def num_frames(self) -> int:
        """Number of frames."""
        ...

    def frame(self, i: int) -> np.ndarray:
        """Frame i: (H, W, 3) uint8 RGB."""
        ...


def _batches(
    video: FrameSource, size: tuple[int, int], batch_size: int
) -> Iterator[tuple[list[np.ndarray], torch.Tensor]]:
    for start in range(0, video.num_frames, batch_size):
        frames = [video.frame(i) for i in range(start, min(start + batch_size, video.num_frames))]
        yield frames, frames_to_input(np.stack(frames), size)


def video_features(
    model: FeatureModel, video: FrameSource, size: tuple[int, int], options: SegmentOptions
) -> Iterator[torch.Tensor]:
    """(D, h, w) L2-normalised features of every frame, in order: frames decoded ahead in
    a thread, batched through the backbone (and the feature cache, if any)."""
    for frames, batch in read_ahead(_batches(video, size, options.batch_size)):
        yield from batch_features(
            model,
            frames,
            batch,
            options.params.n_last,
            device=options.device,
            autocast_dtype=options.feature_dtype,
            cached=options.feature_cache,
        )
