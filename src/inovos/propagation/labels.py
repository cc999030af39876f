"""Label maps: id map -> one-hot -> feature grid, and soft map -> id map.

Channels: channel 0 is the background, channel i (1 <= i <= len(object_ids)) is the
object ``object_ids[i - 1]``. The void id 255 counts as background.

"Nearest" resize, one definition used everywhere in this package: Pillow's NEAREST
filter, pixel for pixel, because the original INO/DINO evaluation resizes id maps with
Pillow. Output pixel ``o`` of a side of ``n_out`` pixels takes input pixel
``floor(x_o)`` where ``x_0 = 0.5 * s`` and ``x_{o+1} = x_o + s`` with ``s = n_in / n_out``,
accumulated in double precision. This is "the input pixel whose cell contains the output
pixel's centre", except that the accumulated rounding error picks the earlier pixel at
some exact ties (848 -> 854: output column 640 reads input column 635, where exact
arithmetic gives 636).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from inovos.errors import InovosError
from inovos.formats.palette import VOID_ID


def check_object_ids(object_ids: Sequence[int]) -> tuple[int, ...]:
    """Validate a sequence's object ids (distinct, in 1..254) and return them as a tuple.

    Raises:
        InovosError: duplicates or ids outside 1..254.
    """
    ids = tuple(int(i) for i in object_ids)
    if len(set(ids)) != len(ids):
        raise InovosError(f"object ids must be distinct, got {list(ids)}")
    bad = [i for i in ids if not 1 <= i <= 254]
    if bad:
        raise InovosError(f"object ids must lie in 1..254 (0 is background, 255 void), got {bad}")
    return ids


def channel_lut(object_ids: Sequence[int]) -> np.ndarray:
    """Id -> channel lookup table: (256,) int64, -1 for ids that are not in the sequence."""
    lut = np.full(256, -1, dtype=np.int64)
    lut[0] = 0
    lut[VOID_ID] = 0
    for channel, oid in enumerate(check_object_ids(object_ids), start=1):
        lut[oid] = channel
    return lut


def id_channels(ids: np.ndarray, object_ids: Sequence[int]) -> np.ndarray:
    """Map an id map to channel indices.

    Args:
        ids: (H, W) integer object ids (0 background, 255 void).
        object_ids: the sequence's object ids, channel i = object_ids[i - 1].

    Returns:
        (H, W) int64 channel indices.

    Raises:
        InovosError: an id that is not background, void or one of ``object_ids``.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"id map must be (H, W), got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() > 255):
        raise InovosError(f"annotation ids must lie in 0..255, got {ids.min()}..{ids.max()}")
    channels = channel_lut(object_ids)[ids.astype(np.int64)]
    if (channels < 0).any():
        unknown = sorted(set(np.unique(ids[channels < 0]).tolist()))
        raise InovosError(
            f"annotation has object ids {unknown} that are not among the sequence's "
            f"object ids {list(object_ids)}"
        )
    return channels


def one_hot(ids: np.ndarray, object_ids: Sequence[int]) -> torch.Tensor:
    """(H, W) id map -> (L, H, W) float32 one-hot, L = 1 + len(object_ids)."""
    channels = torch.from_numpy(id_channels(ids, object_ids))
    num = 1 + len(object_ids)
    return F.one_hot(channels, num).permute(2, 0, 1).float()


def nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """Source index of every output index for Pillow's NEAREST resize: (n_out,) int64.

    The source coordinate starts at ``0.5 * n_in / n_out`` and grows by ``n_in / n_out``
    per output pixel, summed one step at a time in float64 (as Pillow does), then
    truncated; see the module docstring.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got {n_in} -> {n_out}")
    step = float(n_in) / float(n_out)
    increments = np.full(n_out, step, dtype=np.float64)
    increments[0] = step * 0.5
    coords = np.add.accumulate(increments)  # sequential float64 sums, like Pillow's loop
    return np.minimum(coords.astype(np.int64), n_in - 1)


def resize_nearest(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pillow-NEAREST resize of an (H, W) map to ``size`` (module docstring): (h, w), same dtype."""
    rows = nearest_indices(ids.shape[0], size[0])
    cols = nearest_indices(ids.shape[1], size[1])
    return ids[rows[:, None], cols[None, :]]


def labels_to_grid(
    ids: np.ndarray,
    object_ids: Sequence[int],
    grid: tuple[int, int],
    mode: str = "soft",
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Label map at feature resolution from a full-resolution id map.

    Args:
        ids: (H, W) object ids (0 background, 255 void -> background).
        object_ids: the sequence's object ids (channel i = object_ids[i - 1]).
        grid: (h, w) feature grid.
        mode: "soft": bilinear (align_corners True) downscale of the (L, H, W) one-hot
            map, soft at boundaries (INO); "hard": nearest resize of the id map, then
            one-hot (DINO).
        device: where the result lives.

    Returns:
        (L, h, w) float32, L = 1 + len(object_ids).
    """
    if mode == "hard":
        small = resize_nearest(np.asarray(ids), grid)
        return one_hot(small, object_ids).to(device)
    if mode != "soft":
        raise ValueError(f"mode must be 'soft' or 'hard', got {mode!r}")
    full = one_hot(ids, object_ids).to(device)  # (L, H, W)
    return F.interpolate(full[None], size=grid, mode="bilinear", align_corners=True)[0]


def minmax_normalise(soft: torch.Tensor) -> torch.Tensor:
    """Rescale each channel that has a positive value to [0, 1] (DINO's ``norm_mask``).

    Channels whose maximum is <= 0 are left unchanged. A channel that is positive and
    constant (max == min) becomes 1 everywhere (the original divides 0 by 0).

    Args:
        soft: (L, H, W).

    Returns:
        (L, H, W), a new tensor.
    """
    flat = soft.flatten(1)
    lo = flat.amin(dim=1)
    hi = flat.amax(dim=1)
    span = hi - lo
    scaled = torch.where(
        span[:, None] > 0, (flat - lo[:, None]) / span.clamp_min(1e-30)[:, None], 1.0
    )
    return torch.where((hi > 0)[:, None], scaled, flat).view_as(soft)


def readout(
    soft: torch.Tensor,
    object_ids: Sequence[int],
    patch: int,
    frame_size: tuple[int, int],
) -> np.ndarray:
    """Soft map at feature resolution -> object id map at frame resolution.

    Upsample by ``patch`` (bilinear, align_corners False), ``minmax_normalise``, argmax over
    channels (first channel on ties), channel -> object id, nearest resize (module
    docstring) to ``frame_size``.

    Args:
        soft: (L, h, w) soft labels, L = 1 + len(object_ids).
        object_ids: the sequence's object ids.
        patch: the model's patch size.
        frame_size: (H, W) of the original frame.

    Returns:
        (H, W) uint8 object ids.
    """
    ids = check_object_ids(object_ids)
    if soft.ndim != 3 or soft.shape[0] != 1 + len(ids):
        raise ValueError(f"soft must be ({1 + len(ids)}, h, w), got {tuple(soft.shape)}")
    up = F.interpolate(
        soft[None].float(),
        scale_factor=patch,
        mode="bilinear",
        align_corners=False,
        recompute_scale_factor=False,
    )[0]  # (L, h*p, w*p)
    channel = minmax_normalise(up).argmax(dim=0)  # (h*p, w*p)
    lut = torch.tensor((0, *ids), dtype=torch.uint8, device=channel.device)
    id_map = lut[channel].cpu().numpy()
    return resize_nearest(id_map, frame_size)
