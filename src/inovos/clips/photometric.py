"""Photometric augmentations on batches with per-image parameters (CPU or device).

Every function takes float images in [0, 1] shaped (N, 3, H, W) and per-image
parameters shaped (N,), so one call serves a clip in a DataLoader worker and a whole
batch on the GPU alike. Semantics follow the usual tensor colour jitter: brightness
scales, contrast blends with the mean grey level of the image, saturation blends with
the per-pixel grey image, hue rotates the HSV hue; results are clamped to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import hsv_to_rgb, rgb_to_hsv

_GREY = (0.299, 0.587, 0.114)


def to_grayscale(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma (ITU-R 601)."""
    r, g, b = images.unbind(dim=1)
    return (_GREY[0] * r + _GREY[1] * g + _GREY[2] * b).unsqueeze(1)


def _per_image(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return values.to(images.dtype).reshape(-1, 1, 1, 1)


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = _per_image(factor, images)
    return (f * images + (1.0 - f) * other).clamp(0.0, 1.0)


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Multiply by ``factor`` (N,)."""
    return (images * _per_image(factor, images)).clamp(0.0, 1.0)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean grey level; ``factor`` (N,)."""
    mean = to_grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(images, mean, factor)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the per-pixel grey image; ``factor`` (N,)."""
    return _blend(images, to_grayscale(images), factor)


def adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` (N,) turns (in [-0.5, 0.5])."""
    hsv = rgb_to_hsv(images)  # hue in radians [0, 2 pi)
    hue = torch.remainder(hsv[:, :1] + _per_image(shift, images) * (2.0 * math.pi), 2.0 * math.pi)
    return hsv_to_rgb(torch.cat([hue, hsv[:, 1:]], dim=1)).clamp(0.0, 1.0)


_JITTER_OPS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


def color_jitter(
    images: torch.Tensor, factors: torch.Tensor, order: torch.Tensor, apply: torch.Tensor
) -> torch.Tensor:
    """Colour jitter with per-image factors and per-image random op order.

    Args:
        images: (N, 3, H, W) in [0, 1].
        factors: (N, 4) brightness, contrast, saturation factors and hue shift.
        order: (N, 4) int64 permutation of the ops (0..3) per image.
        apply: (N,) bool; images with False pass through unchanged.

    Returns:
        (N, 3, H, W).
    """
    out = images.clone()
    for position in range(4):
        for op_id, op in enumerate(_JITTER_OPS):
            sel = apply & (order[:, position] == op_id)
            if sel.any():
                out[sel] = op(out[sel], factors[sel, op_id])
    return out


def random_grayscale(images: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """Replace images where ``apply`` (N,) by their grey level (3 equal channels)."""
    grey = to_grayscale(images).expand_as(images)
    return torch.where(apply.reshape(-1, 1, 1, 1), grey, images)


def blur_kernel_size(max_sigma: float) -> int:
    """Odd kernel side covering +-3 sigma of the largest sigma."""
    return 2 * math.ceil(3.0 * max_sigma) + 1


def gaussian_blur(
    images: torch.Tensor, sigma: torch.Tensor, apply: torch.Tensor, kernel_size: int
) -> torch.Tensor:
    """Separable Gaussian blur with per-image sigma (N,), where ``apply`` (N,) is True.

    Edge pixels are extended (replicate padding), as Pillow's blur does.
    """
    if not apply.any():
        return images
    sel = images[apply]
    n, c, h, w = sel.shape
    radius = kernel_size // 2
    x = torch.arange(kernel_size, device=images.device, dtype=images.dtype) - radius
    s = sigma[apply].to(images.dtype).reshape(-1, 1)
    kernel = torch.exp(-0.5 * (x[None, :] / s) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (n, k)
    kernel = kernel.repeat_interleave(c, dim=0)  # (n*c, k)
    mode = "replicate"
    flat = sel.reshape(1, n * c, h, w)
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode=mode), kernel[:, None, None, :], groups=n * c
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode=mode), kernel[:, None, :, None], groups=n * c
    )
    out = images.clone()
    out[apply] = flat.reshape(n, c, h, w)
    return out


def pillow_gaussian_blur(
    images: torch.Tensor, sigma: torch.Tensor, apply: torch.Tensor
) -> torch.Tensor:
    """Pillow's ``ImageFilter.GaussianBlur(radius=sigma)`` on the 8-bit images (CPU).

    The blur of the original recipe: each selected image is rounded to 8 bits,
    blurred by Pillow (an extended box-blur approximation of a Gaussian, edge
    pixels extended) and brought back to [0, 1], so the pixels are Pillow's.
    :func:`gaussian_blur` (the batched device path) differs from it by up to 27
    levels of 255 within 6 pixels of the border and 21 inside (at sigma < 0.5,
    where Pillow's box approximation blurs more than a Gaussian; 8 inside for
    sigma >= 0.5), 0.41 on average: ``benchmarks/blur_difference.py``, 600 photo
    crops of 64 x 64, sigma U(0.1, 2).

    Args:
        images: (N, 3, H, W) float in [0, 1], on the CPU.
        sigma: (N,) blur radii.
        apply: (N,) bool; images with False pass through unchanged.

    Returns:
        (N, 3, H, W).
    """
    from PIL import Image, ImageFilter

    out = images.clone()
    for i in torch.nonzero(apply).flatten().tolist():
        pixels = (images[i].clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
        image = Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())
        blurred = image.filter(ImageFilter.GaussianBlur(radius=float(sigma[i])))
        out[i] = torch.from_numpy(np.asarray(blurred).copy()).permute(2, 0, 1).to(out.dtype) / 255.0
    return out


def normalize(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """(x - mean) / std per channel; images (..., 3, H, W)."""
    m = torch.tensor(mean, device=images.device, dtype=images.dtype).reshape(3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=images.dtype).reshape(3, 1, 1)
    return (images - m) / s
