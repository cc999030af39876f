"""The Python API: load a feature model, segment a video frame by frame or in one call.

Everything here is also importable from the package itself (``inovos.load_model``,
``inovos.VideoSegmenter``, ``inovos.segment_video``, ``inovos.open_video``,
``inovos.make_params``); ``import inovos`` stays cheap because these names are only
imported when first used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inovos.errors import InovosError
from inovos.propagation.features import FeatureModel
from inovos.segment.segmenter import VideoSegmenter, make_params, segment_frames
from inovos.vos.sequence import VideoSequence


def load_model(
    source: str | Path,
    *,
    device: torch.device | str = "cpu",
    which: str = "auto",
    patch_size: int | None = None,
    seed: int = 0,
) -> FeatureModel:
    """A feature backbone in eval mode on ``device``.

    Args:
        source: a checkpoint file (INO or DINO training checkpoint, DINO or DINOv2
            backbone release, inovos ``.safetensors`` weights), a public release by name
            (``"dino_vits8"``, ``"dinov2_vitb14_reg4"``: downloaded once into the cache),
            ``"random:ARCH"`` (a seeded random ViT, e.g. ``"random:vit_small"``,
            ``"random:dinov2_vits14"``) or ``"pixels"`` (raw patch pixels).
        device: where the model lives.
        which: network of a training checkpoint ("auto", "student", "teacher").
        patch_size: patch size for ``random:``/``pixels`` (default 8).
        seed: seed of ``random:ARCH``.

    Raises:
        InovosError: a missing or unreadable checkpoint, an unknown architecture.
    """
    from inovos.segment.models import load_feature_model

    return load_feature_model(
        str(source), patch_size=patch_size, which=which, seed=seed, device=device
    )


def open_video(video: str | Path, mask: str | Path, max_frames: int | None = None) -> VideoSequence:
    """A video file (anything PyAV decodes) or a folder of frames, with its first mask.

    Args:
        video: the file or folder (.jpg/.jpeg/.png frames, natural order).
        mask: first-frame mask image of the frames' size (palette or grayscale PNG of
            ids; a black-and-white mask is one object).
        max_frames: keep only the first frames.

    Raises:
        InovosError: missing or undecodable input, a mask of another size or empty.
    """
    from inovos.vos.folder import open_folder
    from inovos.vos.video_file import VideoFileSequence, first_frames

    video, mask = Path(video), Path(mask)
    if max_frames is not None and max_frames < 1:
        raise InovosError(f"max_frames must be at least 1, got {max_frames}")
    if video.is_dir():
        return first_frames(open_folder(video, mask), max_frames)
    if not video.exists():
        raise InovosError(f"{video}: video file or frame folder not found")
    return VideoFileSequence(video, mask, max_frames=max_frames)


def segment_video(
    model: FeatureModel,
    video: str | Path | VideoSequence,
    mask: str | Path | None = None,
    preset: str = "ino-davis",
    *,
    max_frames: int | None = None,
    batch_size: int = 4,
    device: torch.device | str | None = None,
    **knobs: Any,
) -> Iterator[np.ndarray]:
    """Segment a whole video: a generator of one (H, W) uint8 id map per frame.

    Frames are decoded as they are needed, so long videos never sit in memory.

    Args:
        model: feature backbone (``load_model``).
        video: a video file or frame folder (then ``mask`` is its first-frame mask),
            or an opened sequence (``open_video``, a DAVIS / YouTube-VOS reader's item).
        mask: first-frame mask file for a path ``video``.
        preset: protocol preset; ``knobs`` (layer, topk, context, radius, temperature,
            short_side) change single settings of it.
        max_frames: only the first frames of a path ``video``.
        batch_size: frames per feature batch (does not change the results).
        device: where the work runs (default: the model's device).

    Yields:
        (H, W) uint8 object ids of frame 0, 1, ... (frame 0: its mask).
    """
    if not isinstance(video, str | Path):
        seq = video
    else:
        if mask is None:
            raise InovosError("segment_video needs the first-frame mask of a video path")
        seq = open_video(video, mask, max_frames)
    segmenter = VideoSegmenter(model, preset, object_ids=seq.object_ids, device=device, **knobs)
    try:
        for _, _, ids in segment_frames(segmenter, seq, batch_size):
            yield ids
    finally:
        close = getattr(seq, "close", None)
        if close is not None and seq is not video:
            close()


__all__ = [
    "VideoSegmenter",
    "load_model",
    "make_params",
    "open_video",
    "segment_video",
]
