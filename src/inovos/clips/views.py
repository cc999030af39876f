"""Per-frame multi-crop views, on CPU per clip or batched on the device.

Every frame gets its own boxes (nothing is shared between frames or between crops):
one global crop (area U(0.80, 0.95), ratio log-U(3/4, 4/3), bicubic to ``global_size``,
normalised, nothing else) and ``n_local`` local crops (area U(0.05, 0.80), same
ratios, ``local_size``, then hflip p .5, colour jitter (0.4, 0.4, 0.2, 0.1) p .8,
grayscale p .2, Gaussian blur sigma U(0.1, 2) p .5, normalised).

Random parameters are drawn first (:func:`sample_view_params`, on the CPU with a
``torch.Generator``) and then applied by one of two interchangeable paths that give
the same numbers except for the blur of local crops:

- :class:`CpuViews` in DataLoader workers: (T, H, W, 3) uint8 -> globals (T, 3, G, G),
  locals (T, L, 3, S, S); :func:`collate_clips` stacks them to globals (T, B, 3, G, G)
  and locals (T, L, B, 3, S, S).
- :class:`BatchedViews` on the device: padded frames (B, T, H, W, 3) uint8 with their
  true sizes -> the same two tensors, already in the (T, B, ...) / (T, L, B, ...) layout.

The CPU path blurs as the original, with Pillow's ``GaussianBlur(radius=sigma)`` on
the 8-bit crop; the batched path uses an exact separable Gaussian, which differs
from Pillow by up to 27 / 255 near the crop borders and 21 / 255 inside (small
sigma), 0.41 / 255 on average over blurred crops (``benchmarks/blur_difference.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inovos.clips.photometric import (
    blur_kernel_size,
    color_jitter,
    gaussian_blur,
    normalize,
    pillow_gaussian_blur,
    random_grayscale,
)
from inovos.clips.resized_crop import crop_resize_batched, crop_resize_cpu, sample_boxes
from inovos.normalization import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class ViewConfig:
    """Sizes, counts and augmentation strengths of the views (defaults: the INO recipe)."""

    global_size: int = 224
    local_size: int = 64
    n_local: int = 8
    global_scale: tuple[float, float] = (0.80, 0.95)
    local_scale: tuple[float, float] = (0.05, 0.80)
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass
class ViewParams:
    """Random parameters of the views of F frames with L local crops each (CPU tensors).

    Attributes:
        global_boxes: (F, 4) int64 (top, left, height, width).
        local_boxes: (F, L, 4) int64.
        flip: (F, L) bool.
        jitter: (F, L) bool, colour jitter applied.
        jitter_factors: (F, L, 4) brightness, contrast, saturation factors, hue shift.
        jitter_order: (F, L, 4) int64 op order.
        gray: (F, L) bool.
        blur: (F, L) bool.
        blur_sigma: (F, L) float.
    """

    global_boxes: torch.Tensor
    local_boxes: torch.Tensor
    flip: torch.Tensor
    jitter: torch.Tensor
    jitter_factors: torch.Tensor
    jitter_order: torch.Tensor
    gray: torch.Tensor
    blur: torch.Tensor
    blur_sigma: torch.Tensor

    def select(self, frames: slice) -> ViewParams:
        """The parameters of a range of frames."""
        return ViewParams(*(getattr(self, name)[frames] for name in self.__dataclass_fields__))


def sample_view_params(
    sizes: torch.Tensor, cfg: ViewConfig, generator: torch.Generator | None = None
) -> ViewParams:
    """Draw the random parameters of every frame's views.

    Args:
        sizes: (F, 2) int64 (H, W) of each frame.
        cfg: view settings.
        generator: random source (CPU).

    Returns:
        The parameters, deterministic given the generator state.
    """
    sizes = sizes.to(torch.int64).reshape(-1, 2)
    f, n_loc = sizes.shape[0], cfg.n_local
    global_boxes = sample_boxes(sizes, cfg.global_scale, cfg.ratio, generator)
    local_sizes = sizes.repeat_interleave(n_loc, dim=0)
    local_boxes = sample_boxes(local_sizes, cfg.local_scale, cfg.ratio, generator)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator)

    b, c, s, h = cfg.jitter
    factors = torch.stack(
        [
            uniform(max(0.0, 1.0 - b), 1.0 + b, f, n_loc),
            uniform(max(0.0, 1.0 - c), 1.0 + c, f, n_loc),
            uniform(max(0.0, 1.0 - s), 1.0 + s, f, n_loc),
            uniform(-h, h, f, n_loc),
        ],
        dim=-1,
    )
    return ViewParams(
        global_boxes=global_boxes,
        local_boxes=local_boxes.reshape(f, n_loc, 4),
        flip=torch.rand(f, n_loc, generator=generator) < cfg.flip_p,
        jitter=torch.rand(f, n_loc, generator=generator) < cfg.jitter_p,
        jitter_factors=factors,
        jitter_order=torch.argsort(torch.rand(f, n_loc, 4, generator=generator), dim=-1),
        gray=torch.rand(f, n_loc, generator=generator) < cfg.gray_p,
        blur=torch.rand(f, n_loc, generator=generator) < cfg.blur_p,
        blur_sigma=uniform(cfg.blur_sigma[0], cfg.blur_sigma[1], f, n_loc),
    )


def finish_locals(
    crops: torch.Tensor, params: ViewParams, cfg: ViewConfig, *, pillow_blur: bool = False
) -> torch.Tensor:
    """Flip, jitter, grayscale, blur and normalise resized local crops.

    Args:
        crops: (F, L, 3, S, S) float in [0, 1].
        params: parameters of the F frames.
        cfg: view settings.
        pillow_blur: blur with Pillow on the 8-bit crop (the original's pixels, CPU
            only) instead of the batched separable Gaussian.

    Returns:
        (F, L, 3, S, S) normalised.
    """
    shape = crops.shape
    device = crops.device
    x = crops.reshape(-1, *shape[2:])

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(-1, *t.shape[2:]).to(device)

    x = torch.where(flat(params.flip).reshape(-1, 1, 1, 1), x.flip(-1), x)
    x = color_jitter(x, flat(params.jitter_factors), flat(params.jitter_order), flat(params.jitter))
    x = random_grayscale(x, flat(params.gray))
    if pillow_blur:
        x = pillow_gaussian_blur(x, flat(params.blur_sigma), flat(params.blur))
    else:
        kernel = blur_kernel_size(cfg.blur_sigma[1])
        x = gaussian_blur(x, flat(params.blur_sigma), flat(params.blur), kernel)
    return normalize(x, cfg.mean, cfg.std).reshape(shape)


def apply_views_cpu(
    frames: torch.Tensor,
    params: ViewParams,
    cfg: ViewConfig,
    *,
    exact: bool = False,
    pillow_blur: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Views of F frames, cropping frame by frame (DataLoader-worker path).

    Args:
        frames: (F, H, W, 3) uint8.
        params: parameters for these F frames.
        cfg: view settings.
        exact: resample in float32 instead of the faster 8-bit kernel.
        pillow_blur: blur local crops with Pillow's GaussianBlur on the 8-bit crop
            (default, the original's pixels); False uses the batched path's blur.

    Returns:
        globals (F, 3, G, G) and locals (F, L, 3, S, S), float32 normalised.
    """
    globals_, locals_ = [], []
    for i in range(frames.shape[0]):
        box = params.global_boxes[i : i + 1]
        globals_.append(crop_resize_cpu(frames[i], box, cfg.global_size, exact=exact))
        locals_.append(
            crop_resize_cpu(frames[i], params.local_boxes[i], cfg.local_size, exact=exact)
        )
    glob = normalize(torch.cat(globals_), cfg.mean, cfg.std)
    return glob, finish_locals(torch.stack(locals_), params, cfg, pillow_blur=pillow_blur)


def apply_views_batched(
    frames: torch.Tensor, params: ViewParams, cfg: ViewConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Views of F frames at once (device path).

    Args:
        frames: (F, H, W, 3) uint8 on any device, padded to a common size; each
            frame's boxes lie inside its true size.
        params: parameters for these F frames.
        cfg: view settings.

    Returns:
        globals (F, 3, G, G) and locals (F, L, 3, S, S), float32 normalised.
    """
    images = frames.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    glob = crop_resize_batched(images, params.global_boxes[:, None], cfg.global_size)[:, 0]
    loc = crop_resize_batched(images, params.local_boxes, cfg.local_size)
    return normalize(glob, cfg.mean, cfg.std), finish_locals(loc, params, cfg)


class CpuViews:
    """Per-clip views for DataLoader workers: (T, H, W, 3) uint8 -> globals, locals.

    Args:
        cfg: view settings.
        exact: resample in float32 (default: the faster 8-bit kernel, like PIL).
    """

    def __init__(self, cfg: ViewConfig | None = None, *, exact: bool = False) -> None:
        self.cfg = cfg or ViewConfig()
        self.exact = exact

    def __call__(
        self, frames: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """frames: (T, H, W, 3) uint8 -> globals (T, 3, G, G), locals (T, L, 3, S, S)."""
        t, h, w = frames.shape[:3]
        sizes = torch.tensor([[h, w]] * t, dtype=torch.int64)
        params = sample_view_params(sizes, self.cfg, generator)
        return apply_views_cpu(frames, params, self.cfg, exact=self.exact)


class BatchedViews:
    """Views of a whole batch on its device, from the raw frames of :func:`collate_clips`."""

    def __init__(self, cfg: ViewConfig | None = None) -> None:
        self.cfg = cfg or ViewConfig()

    def __call__(
        self, frames: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Views of B clips.

        Args:
            frames: (B, T, H, W, 3) uint8 (padded; on the target device).
            sizes: (B, 2) int64 true (H, W) of each clip's frames.
            generator: CPU random source for the parameters.

        Returns:
            globals (T, B, 3, G, G) and locals (T, L, B, 3, S, S), float32 normalised.
        """
        b, t = frames.shape[:2]
        frame_sizes = sizes.cpu().to(torch.int64).repeat_interleave(t, dim=0)  # (B*T, 2)
        params = sample_view_params(frame_sizes, self.cfg, generator)
        glob, loc = apply_views_batched(frames.reshape(b * t, *frames.shape[2:]), params, self.cfg)
        glob = glob.reshape(b, t, *glob.shape[1:]).transpose(0, 1)
        loc = loc.reshape(b, t, *loc.shape[1:]).permute(1, 2, 0, 3, 4, 5)
        return glob.contiguous(), loc.contiguous()
