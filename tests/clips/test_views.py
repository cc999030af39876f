"""Multi-crop views: box sampling, resampling, photometric ops, both execution paths."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from inovos.clips import photometric as ph
from inovos.clips.resized_crop import (
    crop_resize_batched,
    crop_resize_cpu,
    resample_weights,
    sample_boxes,
)
from inovos.clips.views import (
    BatchedViews,
    CpuViews,
    ViewConfig,
    apply_views_batched,
    apply_views_cpu,
    sample_view_params,
)

MEAN = torch.tensor(ViewConfig().mean).reshape(3, 1, 1)
STD = torch.tensor(ViewConfig().std).reshape(3, 1, 1)
TINY = ViewConfig(global_size=32, local_size=16, n_local=4)


def _frames(t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.rand(t, 3, h // 4, w // 4, generator=g)
    smooth = F.interpolate(smooth, size=(h, w), mode="bilinear", align_corners=False)
    return (smooth * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


# --- boxes --------------------------------------------------------------------------------


def test_boxes_follow_scale_and_ratio() -> None:
    g = torch.Generator().manual_seed(0)
    sizes = torch.tensor([[120, 200]]).repeat(4000, 1)
    boxes = sample_boxes(sizes, (0.05, 0.8), (3 / 4, 4 / 3), g)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 120).all() and (left + w <= 200).all()
    area = (h * w).double() / (120 * 200)
    assert area.min() > 0.045 and area.max() < 0.82  # U(0.05, 0.8) up to rounding
    log_ratio = torch.log(w.double() / h.double())
    assert log_ratio.abs().max() < math.log(4 / 3) + 0.1
    ref = _reference_box_areas(120, 200, (0.05, 0.8), (3 / 4, 4 / 3), 4000)
    assert abs(area.mean().item() - ref.mean()) < 0.015  # rejected tries skew to small areas
    assert abs(area.std().item() - ref.std()) < 0.015
    # positions spread over the image: boxes touch both ends of the free range sometimes
    assert (top == 0).any() and (top + h == 120).any()


def _reference_box_areas(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], n: int
) -> np.ndarray:
    """Area fractions from a plain scalar RandomResizedCrop (10 tries, else centre crop)."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        h, w = height, width  # fallback (the image is inside the ratio range here)
        for _ in range(10):
            target = height * width * rng.uniform(*scale)
            aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
            bw, bh = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < bw <= width and 0 < bh <= height:
                h, w = bh, bw
                break
        out.append(h * w / (height * width))
    return np.array(out)


def test_boxes_fall_back_to_centre_crop() -> None:
    boxes = sample_boxes(torch.tensor([[10, 1000], [1000, 10]]), (0.5, 1.0), (3 / 4, 4 / 3))
    assert boxes.tolist() == [[0, 493, 10, 13], [493, 0, 13, 10]]


def test_no_box_shared_between_frames_or_crops() -> None:
    sizes = torch.tensor([[240, 320]]).repeat(4, 1)
    params = sample_view_params(sizes, ViewConfig(), torch.Generator().manual_seed(1))
    assert params.global_boxes.shape == (4, 4) and params.local_boxes.shape == (4, 8, 4)
    globals_ = {tuple(b) for b in params.global_boxes.tolist()}
    locals_ = {tuple(b) for b in params.local_boxes.reshape(-1, 4).tolist()}
    assert len(globals_) == 4 and len(locals_) == 32
    area = params.global_boxes[:, 2] * params.global_boxes[:, 3] / (240 * 320)
    assert ((area > 0.78) & (area < 0.97)).all()


# --- resampling ---------------------------------------------------------------------------


def test_resample_weights_identity_and_rows() -> None:
    w = resample_weights(torch.tensor([0, 3]), torch.tensor([10, 5]), 10, 10)
    torch.testing.assert_close(w[0], torch.eye(10))  # same size: identity
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 10))
    assert (w[1][:, :3] == 0).all() and (w[1][:, 8:] == 0).all()  # nothing outside the span


def test_batched_crops_equal_per_crop_interpolate() -> None:
    frames = _frames(3, 50, 70)
    sizes = torch.tensor([[50, 70]] * 9)
    for scale, size in (((0.05, 0.8), 16), ((0.8, 0.95), 96), ((0.2, 0.5), 5)):
        boxes = sample_boxes(sizes, scale, (3 / 4, 4 / 3), torch.Generator().manual_seed(2))
        boxes = boxes.reshape(3, 3, 4)
        images = frames.permute(0, 3, 1, 2).float() / 255
        batched = crop_resize_batched(images, boxes, size)
        for f in range(3):
            exact = crop_resize_cpu(frames[f], boxes[f], size, exact=True)
            torch.testing.assert_close(batched[f], exact, atol=2e-5, rtol=0)
            fast = crop_resize_cpu(frames[f], boxes[f], size)
            assert (fast - exact).abs().max() < 2.0 / 255
            top, left, h, w = boxes[f, 0].tolist()
            crop = images[f : f + 1, :, top : top + h, left : left + w]
            ref = F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True)
            torch.testing.assert_close(exact[0], ref[0].clamp(0, 1), atol=1e-6, rtol=0)


# --- photometric ops against plain references ----------------------------------------------


def test_brightness_contrast_saturation_match_formulas() -> None:
    x = torch.rand(3, 3, 5, 6, generator=torch.Generator().manual_seed(3))
    f = torch.tensor([0.6, 1.0, 1.4])
    torch.testing.assert_close(ph.adjust_brightness(x, f), (x * f[:, None, None, None]).clamp(0, 1))
    for i in range(3):
        grey = 0.299 * x[i, 0] + 0.587 * x[i, 1] + 0.114 * x[i, 2]
        contrast = (f[i] * x[i] + (1 - f[i]) * grey.mean()).clamp(0, 1)
        saturation = (f[i] * x[i] + (1 - f[i]) * grey).clamp(0, 1)
        torch.testing.assert_close(ph.adjust_contrast(x, f)[i], contrast)
        torch.testing.assert_close(ph.adjust_saturation(x, f)[i], saturation)


def test_hue_matches_colorsys() -> None:
    x = torch.rand(2, 3, 3, 4, generator=torch.Generator().manual_seed(4)) * 0.9 + 0.05
    shift = torch.tensor([0.1, -0.07])
    out = ph.adjust_hue(x, shift)
    for n in range(2):
        for i in range(3):
            for j in range(4):
                h, s, v = colorsys.rgb_to_hsv(*x[n, :, i, j].tolist())
                expected = colorsys.hsv_to_rgb((h + shift[n].item()) % 1.0, s, v)
                np.testing.assert_allclose(out[n, :, i, j].numpy(), expected, atol=1e-5)
    torch.testing.assert_close(ph.adjust_hue(x, torch.zeros(2)), x, atol=1e-5, rtol=0)


def test_gaussian_blur_matches_scipy() -> None:
    x = torch.rand(3, 3, 20, 24, generator=torch.Generator().manual_seed(5))
    sigma = torch.tensor([0.3, 1.1, 2.0])
    apply = torch.tensor([True, True, False])
    out = ph.gaussian_blur(x, sigma, apply, kernel_size=13)
    for n in range(2):
        for c in range(3):
            ref = gaussian_filter(
                x[n, c].double().numpy(),
                sigma[n].item(),
                mode="nearest",
                truncate=6 / sigma[n].item(),
            )
            np.testing.assert_allclose(out[n, c].numpy(), ref, atol=1e-5)
    torch.testing.assert_close(out[2], x[2])


def _photo_crops() -> torch.Tensor:
    """(4, 3, 64, 64) uint8 windows of a real photo (scikit-image's astronaut)."""
    from skimage import data as photos

    image = torch.from_numpy(photos.astronaut()).permute(2, 0, 1)
    return torch.stack(
        [image[:, y : y + 64, x : x + 64] for y, x in ((0, 0), (90, 200), (300, 120), (448, 448))]
    )


def test_pillow_blur_gives_pillows_pixels_on_a_photo() -> None:
    from PIL import Image, ImageFilter

    crops = _photo_crops()
    sigma = torch.tensor([0.1, 0.73, 1.5, 2.0])
    apply = torch.tensor([True, True, True, False])
    out = ph.pillow_gaussian_blur(crops.float() / 255.0, sigma, apply)
    for n in range(3):
        image = Image.fromarray(crops[n].permute(1, 2, 0).numpy())
        want = np.asarray(image.filter(ImageFilter.GaussianBlur(radius=float(sigma[n]))))
        got = (out[n] * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(got, want)
        assert (out[n] * 255.0 - torch.tensor(want).permute(2, 0, 1)).abs().max() < 1e-4
    torch.testing.assert_close(out[3], crops[3].float() / 255.0)


def test_cpu_views_blur_local_crops_with_pillow() -> None:
    """Blur only: the CPU path's local crop is Pillow's blur of the 8-bit resized crop."""
    from PIL import Image, ImageFilter

    cfg = ViewConfig(global_size=32, local_size=16, n_local=3, flip_p=0.0, jitter_p=0.0)
    cfg = ViewConfig(**{**cfg.__dict__, "gray_p": 0.0, "blur_p": 1.0})
    frames = _photo_crops()[:2].permute(0, 2, 3, 1).contiguous()  # (2, 64, 64, 3)
    params = sample_view_params(torch.tensor([[64, 64]] * 2), cfg, torch.Generator().manual_seed(3))
    _, locals_ = apply_views_cpu(frames, params, cfg)
    pixels = (locals_ * STD + MEAN) * 255.0
    for f in range(2):
        crops = crop_resize_cpu(frames[f], params.local_boxes[f], cfg.local_size)
        for i in range(cfg.n_local):
            resized = (crops[i] * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
            radius = float(params.blur_sigma[f, i])
            want = np.asarray(Image.fromarray(resized).filter(ImageFilter.GaussianBlur(radius)))
            got = pixels[f, i].permute(1, 2, 0).numpy()
            np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)


def test_color_jitter_applies_ops_in_the_given_order() -> None:
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(6))
    factors = torch.tensor([[1.3, 0.7, 1.2, 0.05], [0.8, 1.2, 0.5, -0.1]])
    order = torch.tensor([[3, 0, 2, 1], [1, 2, 0, 3]])
    out = ph.color_jitter(x, factors, order, torch.tensor([True, False]))
    ops = [ph.adjust_brightness, ph.adjust_contrast, ph.adjust_saturation, ph.adjust_hue]
    ref = x[:1]
    for op_id in order[0].tolist():
        ref = ops[op_id](ref, factors[:1, op_id])
    torch.testing.assert_close(out[:1], ref)
    torch.testing.assert_close(out[1], x[1])


# --- whole views -------------------------------------------------------------------------


def test_cpu_views_shapes_range_and_determinism() -> None:
    frames = _frames(4, 60, 80)
    globals_, locals_ = CpuViews(TINY)(frames, torch.Generator().manual_seed(0))
    assert globals_.shape == (4, 3, 32, 32) and locals_.shape == (4, 4, 3, 16, 16)
    assert globals_.dtype == torch.float32 and locals_.dtype == torch.float32
    lo, hi = (0 - MEAN) / STD, (1 - MEAN) / STD
    for v in (globals_, locals_):
        assert (v >= lo - 1e-5).all() and (v <= hi + 1e-5).all()
        assert v.min() < 0 < v.max()
    again = CpuViews(TINY)(frames, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again[1], locals_)
    other = CpuViews(TINY)(frames, torch.Generator().manual_seed(1))
    assert not torch.equal(other[1], locals_)


def test_global_view_is_only_crop_resize_normalise() -> None:
    frames = torch.full((2, 40, 50, 3), 128, dtype=torch.uint8)
    frames[..., 1] = 30
    globals_, _ = CpuViews(TINY)(frames, torch.Generator().manual_seed(0))
    expected = (torch.tensor([128.0, 30.0, 128.0]).reshape(3, 1, 1) / 255 - MEAN) / STD
    torch.testing.assert_close(globals_, expected.expand(2, 3, 32, 32), atol=1e-5, rtol=0)


def test_flip_only_view_is_the_mirrored_crop() -> None:
    frames = _frames(1, 40, 60, seed=7)
    params = sample_view_params(torch.tensor([[40, 60]]), TINY, torch.Generator().manual_seed(8))
    params.flip[:] = torch.tensor([True, False, True, False])
    params.jitter[:] = False
    params.gray[:] = False
    params.blur[:] = False
    _, locals_ = apply_views_cpu(frames, params, TINY, exact=True)
    for k in range(4):
        crop = crop_resize_cpu(frames[0], params.local_boxes[0, k : k + 1], 16, exact=True)[0]
        crop = crop.flip(-1) if k % 2 == 0 else crop
        torch.testing.assert_close(locals_[0, k], (crop - MEAN) / STD, atol=1e-5, rtol=0)


def test_grayscale_views_have_equal_channels() -> None:
    frames = _frames(2, 40, 60)
    params = sample_view_params(
        torch.tensor([[40, 60]] * 2), TINY, torch.Generator().manual_seed(9)
    )
    params.gray[:] = True
    _, locals_ = apply_views_cpu(frames, params, TINY)
    raw = locals_ * STD + MEAN
    torch.testing.assert_close(raw[:, :, 0], raw[:, :, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(raw[:, :, 0], raw[:, :, 2], atol=1e-5, rtol=0)


def test_augmentation_probabilities() -> None:
    sizes = torch.tensor([[64, 64]]).repeat(500, 1)
    params = sample_view_params(sizes, ViewConfig(), torch.Generator().manual_seed(10))
    n = params.flip.numel()  # 4000 local crops: std of a rate about 0.008
    assert abs(params.flip.float().mean().item() - 0.5) < 0.03
    assert abs(params.jitter.float().mean().item() - 0.8) < 0.03
    assert abs(params.gray.float().mean().item() - 0.2) < 0.03
    assert abs(params.blur.float().mean().item() - 0.5) < 0.03
    assert n == 4000
    f = params.jitter_factors.reshape(-1, 4)
    assert f[:, 0].min() >= 0.6 and f[:, 0].max() <= 1.4
    assert f[:, 2].min() >= 0.8 and f[:, 2].max() <= 1.2
    assert f[:, 3].abs().max() <= 0.1
    s = params.blur_sigma
    assert s.min() >= 0.1 and s.max() <= 2.0
    orders = params.jitter_order.reshape(-1, 4)
    assert (orders.sort(dim=1).values == torch.arange(4)).all()
    assert len({tuple(o) for o in orders.tolist()}) == 24


@pytest.mark.parametrize("exact", [True, False])
def test_batched_path_equals_cpu_path(exact: bool) -> None:
    """Same parameters, same views: two clips of different sizes padded into one batch."""
    clips = [_frames(3, 40, 56, seed=11), _frames(3, 48, 40, seed=12)]
    sizes = torch.tensor([[40, 56], [48, 40]])
    padded = torch.zeros(2, 3, 48, 56, 3, dtype=torch.uint8)
    padded[0, :, :40, :56] = clips[0]
    padded[1, :, :48, :40] = clips[1]
    globals_, locals_ = BatchedViews(TINY)(padded, sizes, torch.Generator().manual_seed(13))
    assert globals_.shape == (3, 2, 3, 32, 32) and locals_.shape == (3, 4, 2, 3, 16, 16)
    params = sample_view_params(
        sizes.repeat_interleave(3, 0), TINY, torch.Generator().manual_seed(13)
    )
    # 8-bit resampling rounds (<= 2/255); colour jitter can amplify that up to ~2.5x
    tol_g, tol_l = (2e-4, 2e-4) if exact else (2 / 255 / 0.224, 6 / 255 / 0.224)
    for b in range(2):
        part = params.select(slice(3 * b, 3 * b + 3))
        g, loc = apply_views_cpu(clips[b], part, TINY, exact=exact, pillow_blur=False)
        torch.testing.assert_close(globals_[:, b], g, atol=tol_g, rtol=0)
        torch.testing.assert_close(locals_[:, :, b], loc, atol=tol_l, rtol=0)
        assert (locals_[:, :, b] - loc).abs().mean() < (1e-5 if exact else 0.5 / 255 / 0.224)
        # With the CPU path's default Pillow blur only the blurred crops change, by no
        # more than the measured worst case of the batched blur (27 / 255).
        _, pil = apply_views_cpu(clips[b], part, TINY, exact=exact)
        blurred = part.blur
        assert blurred.any() and (~blurred).any()
        torch.testing.assert_close(pil[~blurred], loc[~blurred])
        assert (pil[blurred] - loc[blurred]).abs().max() < 27.5 / 255 / 0.224
    g2, l2 = apply_views_batched(padded.reshape(6, 48, 56, 3), params, TINY)
    torch.testing.assert_close(g2.reshape(2, 3, 3, 32, 32).transpose(0, 1), globals_)
    assert l2.shape == (6, 4, 3, 16, 16)
