"""Random resized crops: box sampling and two ways of resampling a box to a square.

Box sampling follows the RandomResizedCrop algorithm (10 tries of a random area
fraction and a log-uniform aspect ratio, then a centre crop clamped to the ratio
range), vectorised over boxes. Resampling is bicubic with antialiasing (PIL's filter,
a = -0.5, support scaled by the downscale factor), done either crop by crop with
``F.interpolate`` (CPU workers) or for a whole batch at once as two matrix products
with per-box separable weight matrices (device path; boxes of any size, frames padded
to a common size). Both give the same numbers up to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_TRIES = 10


def sample_boxes(
    sizes: torch.Tensor,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One random resized crop box per image size.

    Args:
        sizes: (N, 2) int64 (H, W) of the image each box is for.
        scale: range of the box area as a fraction of the image area.
        ratio: range of the box aspect ratio w / h (sampled log-uniformly).
        generator: random source.

    Returns:
        (N, 4) int64 boxes (top, left, height, width) inside their images.
    """
    sizes = sizes.to(torch.int64).reshape(-1, 2)
    n = sizes.shape[0]
    height, width = sizes[:, 0:1].double(), sizes[:, 1:2].double()
    area = height * width
    scale_draw = torch.rand(n, _TRIES, generator=generator, dtype=torch.float64)
    target = area * (scale[0] + (scale[1] - scale[0]) * scale_draw)
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    ratio_draw = torch.rand(n, _TRIES, generator=generator, dtype=torch.float64)
    aspect = torch.exp(log_lo + (log_hi - log_lo) * ratio_draw)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    first = torch.argmax(ok.to(torch.int8), dim=1, keepdim=True)  # first valid try
    any_ok = ok.any(dim=1)
    h_try = h.gather(1, first).squeeze(1).long()
    w_try = w.gather(1, first).squeeze(1).long()
    h_fb, w_fb = _fallback_sizes(sizes, ratio)
    box_h = torch.where(any_ok, h_try, h_fb)
    box_w = torch.where(any_ok, w_try, w_fb)
    pos = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = torch.floor(pos[:, 0] * (sizes[:, 0] - box_h + 1).double()).long()
    left = torch.floor(pos[:, 1] * (sizes[:, 1] - box_w + 1).double()).long()
    top = torch.where(any_ok, top, (sizes[:, 0] - box_h) // 2)
    left = torch.where(any_ok, left, (sizes[:, 1] - box_w) // 2)
    return torch.stack([top, left, box_h, box_w], dim=1)


def _fallback_sizes(sizes: torch.Tensor, ratio: tuple[float, float]) -> tuple[torch.Tensor, ...]:
    """Centre-crop size used when no try fits: the whole image clamped to the ratio range."""
    height, width = sizes[:, 0], sizes[:, 1]
    in_ratio = width.double() / height.double()
    h = height.clone()
    w = width.clone()
    narrow = in_ratio < min(ratio)
    wide = in_ratio > max(ratio)
    h = torch.where(narrow, torch.round(width.double() / min(ratio)).long(), h)
    w = torch.where(wide, torch.round(height.double() * max(ratio)).long(), w)
    return h.clamp(1, None).minimum(height), w.clamp(1, None).minimum(width)


def crop_resize_cpu(
    frame: torch.Tensor, boxes: torch.Tensor, size: int, *, exact: bool = False
) -> torch.Tensor:
    """Crop boxes from one frame and resize each to ``size`` x ``size`` (bicubic, antialiased).

    Args:
        frame: (H, W, 3) uint8.
        boxes: (K, 4) int64 (top, left, height, width).
        size: output side.
        exact: resample in float32; by default the (about 10x faster) uint8
            channels-last kernel is used, whose result is rounded to 8 bits like PIL's
            (within about 1.5/255 of the float result).

    Returns:
        (K, 3, size, size) float32 in [0, 1].
    """
    out = []
    for top, left, h, w in boxes.tolist():
        crop = frame[top : top + h, left : left + w].permute(2, 0, 1).unsqueeze(0)
        if exact:
            crop = crop.to(torch.float32).div_(255.0)
        else:
            crop = crop.contiguous(memory_format=torch.channels_last)
        resized = F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True)
        out.append(resized.to(torch.float32))
    result = torch.cat(out)
    return result.clamp_(0.0, 1.0) if exact else result.div_(255.0)


def _aa_cubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


def resample_weights(
    start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int
) -> torch.Tensor:
    """Weights mapping an input axis to ``out_size`` samples of the span [start, start+length).

    Reproduces antialiased bicubic interpolation of the cropped span (PyTorch/PIL).

    Args:
        start: (M,) int64 first input index of each span.
        length: (M,) int64 span lengths (>= 1).
        in_size: length of the full input axis.
        out_size: output samples per span.

    Returns:
        (M, out_size, in_size) float32; each row sums to 1 and is 0 outside its span.
    """
    device = start.device
    scale = length.double() / out_size  # input pixels per output pixel
    support = 2.0 * scale.clamp(min=1.0)
    inv = 1.0 / scale.clamp(min=1.0)
    centre = scale[:, None] * (torch.arange(out_size, device=device, dtype=torch.float64) + 0.5)
    lo = torch.floor(centre - support[:, None] + 0.5).clamp(min=0)
    hi = torch.minimum(torch.floor(centre + support[:, None] + 0.5), length[:, None].double())
    j = torch.arange(in_size, device=device, dtype=torch.float64)[None, :] - start[:, None]
    j = j[:, None, :]  # (M, 1, in) positions relative to the span start
    inside = (j >= lo[..., None]) & (j < hi[..., None])
    w = _aa_cubic((j - centre[..., None] + 0.5) * inv[:, None, None]) * inside
    w = w / w.sum(dim=-1, keepdim=True).clamp(min=1e-12)
    return w.to(torch.float32)


def crop_resize_batched(frames: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop and resize many boxes per frame at once (device path).

    Args:
        frames: (F, 3, H, W) float in [0, 1] (padding beyond a box is never read).
        boxes: (F, K, 4) int64 (top, left, height, width).
        size: output side.

    Returns:
        (F, K, 3, size, size) float32 in [0, 1].
    """
    n, k = boxes.shape[:2]
    height, width = frames.shape[-2:]
    flat = boxes.reshape(-1, 4).to(frames.device)
    wy = resample_weights(flat[:, 0], flat[:, 2], height, size).reshape(n, k, size, height)
    wx = resample_weights(flat[:, 1], flat[:, 3], width, size).reshape(n, k, size, width)
    rows = torch.einsum("fkah,fchw->fkcaw", wy, frames.to(torch.float32))
    out = torch.einsum("fkcaw,fkbw->fkcab", rows, wx)
    return out.clamp_(0.0, 1.0)
