"""Segment one video frame by frame: ``VideoSegmenter.step(frame, mask=None) -> ids``.

The one inference path of the package: ``inovos propagate``, ``inovos track`` and
``segment_video`` all run ``segment_frames``, which feeds batches of frames through a
``VideoSegmenter``. Feeding the same frames one at a time with ``step`` gives the same
id maps (features do not depend on the batch).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from inovos.errors import InovosError
from inovos.formats.palette import VOID_ID
from inovos.propagation.features import FeatureModel
from inovos.propagation.presets import (
    PropagationParams,
    frames_to_input,
    get_preset,
    input_size,
)
from inovos.propagation.propagator import Propagator
from inovos.segment.background import read_ahead
from inovos.segment.feature_cache import CachedFeatures, batch_features
from inovos.segment.models import check_feature_layer, preferred_layer
from inovos.vos.sequence import VideoSequence


def make_params(
    preset: str = "ino-davis",
    *,
    layer: int | None = None,
    topk: int | None = None,
    context: int | None = None,
    radius: int | None = None,
    temperature: float | None = None,
    short_side: int | None = None,
) -> PropagationParams:
    """A protocol preset with some knobs changed (None keeps the preset's value).

    Args:
        preset: "ino-davis", "ino-ytvos" or "dino-davis".
        layer: features of ``intermediate_layers(n=layer)[0]`` (6: block 7 of 12).
        topk: neighbours kept over all context frames.
        context: previous frames in the context, besides the first frame.
        radius: window half-size on the feature grid.
        temperature: softmax temperature of the top-k scores.
        short_side: the input's short side in pixels; 0 keeps the native size.

    Raises:
        InovosError: unknown preset or an invalid knob.
    """
    params = get_preset(preset)
    knobs: dict[str, Any] = {
        "n_last": layer,
        "topk": topk,
        "n_context": context,
        "radius": radius,
        "temperature": temperature,
    }
    params = dataclasses.replace(params, **{k: v for k, v in knobs.items() if v is not None})
    if short_side is not None:
        params = dataclasses.replace(params, short_side=short_side or None)
    return params


def model_device(model: FeatureModel) -> torch.device:
    """Where the model's parameters live (cpu for a model without parameters)."""
    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


@dataclass
class StageTimes:
    """Seconds spent per stage of ``segment_frames`` (read: waiting for frames)."""

    read: float = 0.0
    features: float = 0.0
    propagation: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """Rounded seconds by stage name."""
        out = {"read": self.read, "features": self.features, "propagation": self.propagation}
        return {k: round(v, 3) for k, v in {**out, **self.extra}.items()}


class VideoSegmenter:
    """Label propagation through one video, fed one frame (or one batch) at a time.

    Objects are given as id maps (0 background, 255 void, ids 1..254): the first frame
    needs one; a later frame may bring a mask for objects that appear there (ids already
    seen in an earlier mask are ignored, as in the published protocol). Make one
    segmenter per video.

    Args:
        model: feature backbone (``load_model``), in eval mode.
        preset: protocol preset ("ino-davis", "ino-ytvos", "dino-davis").
        params: the full protocol instead of ``preset`` and knobs (``make_params``).
        object_ids: the video's object ids when known up front (channel order);
            default: taken from the masks as they come.
        device: where features and propagation run (default: the model's device).
        feature_dtype: autocast dtype of the backbone on CUDA (torch.bfloat16 /
            torch.float16), None for float32.
        feature_cache: read and store backbone features in this on-disk cache.
        **knobs: ``make_params`` knobs (layer, topk, context, radius, temperature,
            short_side); without ``layer`` a DINOv2 model is read at its last block.

    Example:
        >>> seg = VideoSegmenter(load_model("random:vit_tiny"), topk=10)
        >>> ids = seg.step(frame0, mask0)  # (H, W) uint8, the mask itself
        >>> ids = seg.step(frame1)         # (H, W) uint8, propagated
    """

    def __init__(
        self,
        model: FeatureModel,
        preset: str = "ino-davis",
        *,
        params: PropagationParams | None = None,
        object_ids: Sequence[int] | None = None,
        device: torch.device | str | None = None,
        feature_dtype: torch.dtype | None = None,
        feature_cache: CachedFeatures | None = None,
        **knobs: Any,
    ) -> None:
        if params is not None and knobs:
            raise InovosError("give either params or preset knobs, not both")
        if params is None and knobs.get("layer") is None and preferred_layer(model) is not None:
            knobs = {**knobs, "layer": preferred_layer(model)}  # DINOv2: the last block
        self.model = model
        self.params = params if params is not None else make_params(preset, **knobs)
        check_feature_layer(model, self.params.n_last)
        self.device = torch.device(device) if device is not None else model_device(model)
        self.feature_dtype = feature_dtype if self.device.type == "cuda" else None
        self.feature_cache = feature_cache
        self.patch_size = int(model.patch_size)
        self.times = StageTimes()
        self._object_ids = None if object_ids is None else tuple(int(i) for i in object_ids)
        self._propagator: Propagator | None = None

    @property
    def frames_seen(self) -> int:
        """Frames processed so far (the index of the next frame)."""
        return 0 if self._propagator is None else self._propagator.frames_seen

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Ids of the objects segmented so far, in channel order."""
        if self._propagator is None:
            return self._object_ids or ()
        return self._propagator.object_ids

    def input_size(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """Model input (H', W') for frames of ``frame_size`` (H, W) under the protocol."""
        return input_size(*frame_size, self.params, self.patch_size)

    def prepare(self, frames: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) uint8 RGB -> (B, 3, H', W') normalised model input on the CPU.

        Holds no state, so it may run in a reader thread. Give a C-contiguous batch
        (``np.stack``): torch picks its resize kernel from the strides, and the
        rounding of the result depends on it.
        """
        frames = np.asarray(frames)
        return frames_to_input(frames, self.input_size(frames.shape[-3:-1]))

    def features(
        self, batch: torch.Tensor, frames: Sequence[np.ndarray] | None = None
    ) -> torch.Tensor:
        """(B, 3, H', W') model input -> (B, D, H'/p, W'/p) unit-norm patch features.

        ``frames``, the batch's (H, W, 3) uint8 frames, name the entries of the feature
        cache (without them, or without a cache, features are always computed).
        """
        start = time.perf_counter()
        feats = batch_features(
            self.model,
            frames or [],
            batch,
            self.params.n_last,
            device=self.device,
            autocast_dtype=self.feature_dtype,
            cached=self.feature_cache if frames is not None else None,
        )
        self.times.features += time.perf_counter() - start
        return feats

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Segment the next frame.

        Args:
            frame: (H, W, 3) uint8 RGB, the same size for every frame.
            mask: (H, W) integer ids of objects given for this frame (required for the
                first frame), or None.

        Returns:
            (H, W) uint8 object ids (0 background); for the first frame, its mask
            with void (255) read as background.

        Raises:
            InovosError: no mask for the first frame, a frame or mask of another
                size, ids outside 0..255.
        """
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InovosError(f"frame must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}")
        if self._propagator is not None and frame.shape[:2] != self._propagator.frame_size:
            raise InovosError(
                f"frame is {frame.shape[0]}x{frame.shape[1]} but the video's first frame was "
                f"{self._propagator.frame_size[0]}x{self._propagator.frame_size[1]}"
            )
        # np.stack, not frame[None]: the same strides as a batch, hence the same kernels
        batch = self.prepare(np.stack([frame]))
        return self.step_features(self.features(batch, [frame])[0], mask, frame.shape[:2])

    def step_features(
        self,
        feats: torch.Tensor,
        mask: np.ndarray | None = None,
        frame_size: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Segment the next frame from its features (``features(prepare(frames))[i]``).

        Args:
            feats: (D, h, w) features of the frame.
            mask: as in ``step``.
            frame_size: (H, W) of the frame (default: the mask's, then the first frame's).

        Returns:
            (H, W) uint8 object ids.
        """
        start = time.perf_counter()
        if mask is not None:
            mask = self._check_mask(mask, frame_size)
        propagator = self._propagator or self._start(mask)
        if mask is not None:
            new = sorted(set(np.unique(mask).tolist()) - {0, VOID_ID, *propagator.object_ids})
            propagator.add_objects(new)
        ids = propagator.step_ids(feats, mask)
        self.times.propagation += time.perf_counter() - start
        return ids

    def _check_mask(self, mask: np.ndarray, frame_size: tuple[int, int] | None) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
            raise InovosError(
                f"mask must be an (H, W) map of integer ids, got {mask.dtype} {mask.shape}"
            )
        if mask.size and (mask.min() < 0 or mask.max() > VOID_ID):
            raise InovosError(f"mask ids must lie in 0..255, got {mask.min()}..{mask.max()}")
        expected = frame_size or (self._propagator.frame_size if self._propagator else None)
        if expected is not None and mask.shape != tuple(expected):
            raise InovosError(
                f"mask is {mask.shape[0]}x{mask.shape[1]} but the frame is "
                f"{expected[0]}x{expected[1]}"
            )
        return mask.astype(np.uint8)

    def _start(self, mask: np.ndarray | None) -> Propagator:
        if mask is None:
            raise InovosError("the first frame of a video needs a mask")
        ids = self._object_ids
        if ids is None:
            ids = tuple(int(i) for i in np.unique(mask) if i not in (0, VOID_ID))
        self._propagator = Propagator(
            self.params, ids, self.patch_size, (mask.shape[0], mask.shape[1]), self.device
        )
        return self._propagator


def segment_frames(
    segmenter: VideoSegmenter, seq: VideoSequence, batch_size: int = 4
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Segment every frame of ``seq`` from its given annotations, in order.

    A reader thread decodes and resizes the next batches while the model and the
    propagation work on the current one.

    Args:
        segmenter: a fresh segmenter for this video.
        seq: the video; ``seq.annotation(i)`` gives the masks.
        batch_size: frames per feature batch (does not change the results).

    Yields:
        (i, frame (H, W, 3) uint8, ids (H, W) uint8) for i = 0, 1, ...
    """
    if batch_size < 1:
        raise InovosError(f"batch size must be at least 1, got {batch_size}")

    def batches() -> Iterator[tuple[list[int], list[np.ndarray], torch.Tensor]]:
        for start in range(0, seq.num_frames, batch_size):
            indices = list(range(start, min(start + batch_size, seq.num_frames)))
            frames = [seq.frame(i) for i in indices]
            yield indices, frames, segmenter.prepare(np.stack(frames))

    times = segmenter.times
    waited = time.perf_counter()
    for indices, frames, batch in read_ahead(batches()):
        times.read += time.perf_counter() - waited
        feats = segmenter.features(batch, frames)
        for i, frame, feat in zip(indices, frames, feats, strict=True):
            yield i, frame, segmenter.step_features(feat, seq.annotation(i), seq.frame_size)
        waited = time.perf_counter()
