"""Per-video label propagation: ``Propagator.step(feats, annotation)``.

The temporal loop of INO/DUL:

- Frame 0 (the first ``step``) needs an annotation; the output is the annotation itself
  (its label map at feature resolution). Chain 0 starts there; its channels are the
  background and the ids present in that annotation.
- Frame t > 0: every chain predicts from its context, the chain's first frame plus the
  ``n_context`` most recent frames since it started (no duplicates, fewer near the
  start), with the windowed top-k propagation of ``affinity``. A chain keeps only its own
  channels; the frame's prediction is the sum over chains.
- Objects first annotated at t > 0 (YouTube-VOS) are blended into the prediction as INO
  does: pred = (1 - s) * pred + s * A, with A the annotation's label map at feature
  resolution restricted to the new ids (background channel zero) and s = A summed over
  channels (its soft coverage per cell). The factor s on A is INO's: at a boundary cell
  of coverage a, a single new object gets a^2, not a. A new chain starts at t whose
  channels are the new ids. Ids of an annotation that are already known are ignored
  (the original takes only an object's first mask).

Label memory: every frame stores ONE soft map, its final prediction (after the blend),
at feature resolution, never re-binarised. A chain reads these maps for its context
frames, all channels; since propagation is linear in the labels, keeping only the
chain's channels of its output equals restricting the context maps to them first.
Features and maps are cached once per frame and dropped when no chain can use them any
more (not a chain's first frame and older than the ``n_context`` most recent frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from inovos.errors import InovosError
from inovos.propagation.affinity import propagate_windowed
from inovos.propagation.labels import check_object_ids, id_channels, labels_to_grid, readout
from inovos.propagation.presets import PropagationParams, input_size
from inovos.propagation.tiling import TilePlan, plan_layout, plan_tiles


@dataclass(frozen=True)
class _Chain:
    start: int  # the chain's first frame
    channels: torch.Tensor  # (L,) 1 for the chain's channels, 0 elsewhere


@dataclass(frozen=True)
class _Memory:
    feats: torch.Tensor  # (A, B, D) L2-normalised, working orientation
    labels: torch.Tensor  # (A, B, L) final soft map, working orientation


class Propagator:
    """Propagates one video's first-frame (and later first-appearance) masks.

    Args:
        params: propagation knobs (``get_preset(...)``).
        object_ids: the video's object ids; channel 0 = background, channel i =
            object_ids[i - 1]. No cap on their number.
        patch_size: the model's patch size.
        frame_size: (H, W) of the original frames and annotations.
        device: where features, maps and the work live.
        dtype: of the cached features and maps (float32; float64 for exact tests).
        compute_dtype, memory_budget: passed to ``propagate_windowed``.
        tile, transpose: force the working orientation ((w, h) grids, i.e. features
            cached column-major, if ``transpose``) and its query tile; by default
            ``tiling.plan_layout`` chooses on the first frame.
    """

    def __init__(
        self,
        params: PropagationParams,
        object_ids: Sequence[int],
        patch_size: int,
        frame_size: tuple[int, int],
        device: torch.device | str = "cpu",
        *,
        dtype: torch.dtype = torch.float32,
        compute_dtype: torch.dtype | None = None,
        memory_budget: int | None = None,
        tile: tuple[int, int] | None = None,
        transpose: bool | None = None,
    ) -> None:
        self.params = params
        self.object_ids = check_object_ids(object_ids)
        self.num_labels = 1 + len(self.object_ids)
        self.patch_size = patch_size
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.input_size = input_size(*self.frame_size, params, patch_size)
        self.grid = (self.input_size[0] // patch_size, self.input_size[1] // patch_size)
        self.device = torch.device(device)
        self.dtype = dtype
        self.compute_dtype = compute_dtype
        self.memory_budget = memory_budget
        self._forced = (tile, transpose)
        self._plan: TilePlan | None = None
        self._t = 0
        self._memory: dict[int, _Memory] = {}
        self._chains: list[_Chain] = []
        self._known: set[int] = set()

    @property
    def frames_seen(self) -> int:
        """Number of ``step`` calls so far (the index of the next frame)."""
        return self._t

    @property
    def cached_frames(self) -> tuple[int, ...]:
        """Indices of the frames whose features and maps are kept, ascending."""
        return tuple(sorted(self._memory))

    def step(
        self,
        feats: torch.Tensor,
        annotation: np.ndarray | None = None,
        *,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Process the next frame.

        Args:
            feats: (D, h, w) L2-normalised features of the frame (``extract_features``);
                renormalised here.
            annotation: (H, W) id map given for this frame (required for the first frame;
                later only for frames where objects first appear), or None.
            labels: instead of ``annotation``, for the first frame only: its (L, h, w)
                label map on the feature grid, used as it is (e.g. keypoints drawn as
                Gaussians); every channel belongs to the first chain.

        Returns:
            (L, h, w) soft label map of the frame.

        Raises:
            InovosError: first frame without annotation, wrong annotation size, or
                annotation ids that are not among ``object_ids``.
        """
        query = self._prepare(feats)  # (A, B, D)
        t = self._t
        if labels is not None:
            soft = self._given_labels(labels, annotation)
            self._open_chain(0, set(self.object_ids), background=True)
        elif t == 0:
            if annotation is None:
                raise InovosError("the first frame of a video needs an annotation")
            present = self._present_ids(annotation)
            soft = self._annotation_map(annotation, present)  # (L, h, w)
            self._open_chain(0, present, background=True)
        else:
            soft = self._predict(query)
            new = set() if annotation is None else self._present_ids(annotation) - self._known
            if annotation is not None and new:
                ann = self._annotation_map(annotation, new)
                cover = ann.sum(dim=0, keepdim=True)  # (1, h, w) soft coverage
                soft = (1.0 - cover) * soft + cover * ann
                self._open_chain(t, new, background=False)
        self._memory[t] = _Memory(query, self._to_work(soft))
        self._t += 1
        self._evict()
        return soft

    def add_objects(self, ids: Sequence[int]) -> None:
        """Append channels for objects not known at construction (before their first mask).

        Earlier frames hold zero for the new channels, which is exact: propagation is
        linear in the labels, so a channel that is zero in every context map stays zero.
        """
        new = [int(i) for i in ids if int(i) not in self.object_ids]
        if not new:
            return
        self.object_ids = check_object_ids((*self.object_ids, *new))
        self.num_labels = 1 + len(self.object_ids)
        pad = len(new)
        for t, memory in self._memory.items():
            zeros = memory.labels.new_zeros((*memory.labels.shape[:2], pad))
            self._memory[t] = _Memory(memory.feats, torch.cat([memory.labels, zeros], dim=2))
        self._chains = [
            _Chain(c.start, torch.cat([c.channels, c.channels.new_zeros(pad)]))
            for c in self._chains
        ]

    def readout(self, soft: torch.Tensor) -> np.ndarray:
        """(L, h, w) soft map -> (H, W) uint8 object ids (``labels.readout``)."""
        return readout(soft, self.object_ids, self.patch_size, self.frame_size)

    def step_ids(self, feats: torch.Tensor, annotation: np.ndarray | None = None) -> np.ndarray:
        """``step`` then ``readout``; the first frame gives its annotation (void -> 0)."""
        first = self._t == 0
        soft = self.step(feats, annotation)
        if first and annotation is not None:
            ids = np.asarray(annotation).astype(np.uint8)
            return np.where(ids == 255, 0, ids).astype(np.uint8)
        return self.readout(soft)

    def context_of(self, start: int, t: int) -> list[int]:
        """Context frames of the chain starting at ``start`` for frame t: first + recent
        (with ``repeat_first``: recent slots before ``start`` hold copies of it)."""
        if self.params.repeat_first:
            return [start, *(max(start, j) for j in range(t - self.params.n_context, t))]
        recent = range(max(start, t - self.params.n_context), t)
        return [start, *(j for j in recent if j != start)]

    def _given_labels(self, labels: torch.Tensor, annotation: np.ndarray | None) -> torch.Tensor:
        if self._t != 0 or annotation is not None:
            raise InovosError("a label map can only be given for the first frame, alone")
        if tuple(labels.shape) != (self.num_labels, *self.grid):
            raise InovosError(
                f"first-frame label map is {tuple(labels.shape)}, expected "
                f"{(self.num_labels, *self.grid)} (labels x feature grid)"
            )
        return labels.to(self.device, self.dtype)

    def _prepare(self, feats: torch.Tensor) -> torch.Tensor:
        """(D, h, w) -> (A, B, D) working orientation on the device, in ``dtype``, unit norm."""
        if feats.ndim != 3 or tuple(feats.shape[1:]) != self.grid:
            raise ValueError(
                f"feats must be (D, {self.grid[0]}, {self.grid[1]}), got {tuple(feats.shape)}"
            )
        if self._plan is None:
            self._plan = self._make_plan(feats.shape[0])
        return F.normalize(self._to_work(feats.to(self.device, self.dtype)), dim=2)

    def _make_plan(self, dim: int) -> TilePlan:
        """Orientation and tile: forced ones, else ``plan_layout`` for n_context + 1 frames."""
        tile, transpose = self._forced
        args = (self.params.radius, self.params.n_context + 1, dim, self.memory_budget)
        if transpose is None:
            plan = plan_layout(self.grid, *args, self.device.type)
            transpose, planned = plan.transpose, plan.tile
        else:
            work = (self.grid[1], self.grid[0]) if transpose else self.grid
            planned = plan_tiles(work, *args, self.device.type)
        return TilePlan(transpose, tile or planned)

    def _to_work(self, x: torch.Tensor) -> torch.Tensor:
        """(X, h, w) -> (A, B, X) contiguous, (A, B) = (w, h) when transposed."""
        assert self._plan is not None
        order = (2, 1, 0) if self._plan.transpose else (1, 2, 0)
        return x.permute(*order).contiguous()

    def _from_work(self, x: torch.Tensor) -> torch.Tensor:
        """(A, B, X) -> (X, h, w) contiguous."""
        assert self._plan is not None
        order = (2, 1, 0) if self._plan.transpose else (2, 0, 1)
        return x.permute(*order).contiguous()

    def _present_ids(self, annotation: np.ndarray) -> set[int]:
        if tuple(np.shape(annotation)) != self.frame_size:
            raise InovosError(
                f"annotation is {np.shape(annotation)}, expected the frame size {self.frame_size}"
            )
        channels = id_channels(annotation, self.object_ids)  # validates the ids
        return {self.object_ids[c - 1] for c in np.unique(channels).tolist() if c > 0}

    def _annotation_map(self, annotation: np.ndarray, ids: set[int]) -> torch.Tensor:
        """(L, h, w) label map of the annotation: all channels at frame 0; later only the
        channels of ``ids`` (background and other objects zeroed)."""
        full = labels_to_grid(annotation, self.object_ids, self.grid, self.params.label_mode)
        full = full.to(self.device, self.dtype)
        if self._t == 0:
            return full
        keep = self._channel_mask(ids, background=False)
        return full * keep[:, None, None]

    def _channel_mask(self, ids: set[int], background: bool) -> torch.Tensor:
        mask = torch.zeros(self.num_labels, dtype=self.dtype, device=self.device)
        mask[0] = float(background)
        for channel, oid in enumerate(self.object_ids, start=1):
            if oid in ids:
                mask[channel] = 1.0
        return mask

    def _open_chain(self, t: int, ids: set[int], background: bool) -> None:
        self._chains.append(_Chain(t, self._channel_mask(ids, background)))
        self._known |= ids

    def _predict(self, query: torch.Tensor) -> torch.Tensor:
        """Sum over chains of each chain's propagation, own channels only: (L, h, w)."""
        assert self._plan is not None
        t = self._t
        contexts = [self.context_of(chain.start, t) for chain in self._chains]
        frames = sorted({j for ctx in contexts for j in ctx})
        slot = {j: i for i, j in enumerate(frames)}
        keys = [self._memory[j].feats for j in frames]
        labels = torch.cat([self._memory[j].labels.reshape(-1, self.num_labels) for j in frames])
        outs = propagate_windowed(
            query,
            keys,
            labels,
            radius=self.params.radius,
            topk=self.params.topk,
            temperature=self.params.temperature,
            groups=[[slot[j] for j in ctx] for ctx in contexts],
            tile=self._plan.tile,
            memory_budget=self.memory_budget,
            compute_dtype=self.compute_dtype,
        )
        pred = torch.zeros_like(outs[0])  # (A, B, L)
        for out, chain in zip(outs, self._chains, strict=True):
            pred += out * chain.channels
        return self._from_work(pred)

    def _evict(self) -> None:
        """Drop frames that no chain can use as context for the next frames."""
        starts = {chain.start for chain in self._chains}
        oldest_recent = self._t - self.params.n_context
        for j in [j for j in self._memory if j not in starts and j < oldest_recent]:
            del self._memory[j]
