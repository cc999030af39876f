"""The per-video Propagator against a plain reference temporal loop, and
feature extraction."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_affinity import assert_same, reference_propagate

from inovos.errors import InovosError
from inovos.propagation.features import extract_features
from inovos.propagation.labels import labels_to_grid
from inovos.propagation.presets import PropagationParams, get_preset
from inovos.propagation.propagator import Propagator

PATCH = 8


def reference_video(
    params: PropagationParams,
    object_ids: tuple[int, ...],
    feats: torch.Tensor,
    annotations: dict[int, np.ndarray],
) -> list[torch.Tensor]:
    """Plain temporal loop: every frame kept, each chain propagated on its own.

    feats: (T, D, h, w) normalised. Returns the (L, h, w) soft map of every frame.
    """
    grid = tuple(feats.shape[-2:])
    num_labels = 1 + len(object_ids)
    soft: list[torch.Tensor] = []
    chains: list[tuple[int, torch.Tensor]] = []  # (first frame, channel mask (L,))
    known: set[int] = set()

    def ann_map(t: int, ids: set[int], background: bool) -> tuple[torch.Tensor, torch.Tensor]:
        mask = torch.tensor(
            [float(background)] + [float(i in ids) for i in object_ids], dtype=torch.float64
        )
        full = labels_to_grid(annotations[t], object_ids, grid, params.label_mode).double()
        return full * mask[:, None, None], mask

    for t in range(feats.shape[0]):
        present = {int(i) for i in np.unique(annotations.get(t, [])) if i not in (0, 255)}
        if t == 0:
            out, mask = ann_map(0, present, background=True)
            chains.append((0, mask))
            known |= present
        else:
            out = torch.zeros(num_labels, *grid, dtype=torch.float64)
            for start, mask in chains:
                recent = range(max(start, t - params.n_context), t)
                ctx = [start] + [j for j in recent if j != start]
                pred = reference_propagate(
                    feats[t],
                    feats[ctx],
                    torch.stack([soft[j] for j in ctx]),
                    params.radius,
                    params.topk,
                    params.temperature,
                )
                out = out + pred * mask[:, None, None]
            new = present - known
            if new:
                ann, mask = ann_map(t, new, background=False)
                cover = ann.sum(0)
                out = (1 - cover) * out + cover * ann
                chains.append((t, mask))
                known |= new
        soft.append(out)
    return soft


def make_video(
    num_frames: int, size: tuple[int, int], dim: int, seed: int
) -> tuple[torch.Tensor, dict[int, np.ndarray]]:
    """Random normalised features (T, D, h, w) and annotations: objects 3 and 7 at frame
    0 (with some void), object 9 entering at frame 3 (and object 3 again, ignored)."""
    gen = torch.Generator().manual_seed(seed)
    grid = (size[0] // PATCH, size[1] // PATCH)
    feats = F.normalize(
        torch.randn(num_frames, dim, *grid, generator=gen, dtype=torch.float64), dim=1
    )
    rng = np.random.default_rng(seed)
    first = np.zeros(size, np.uint8)
    first[3:17, 5:30] = 3
    first[10:, 28:] = 7
    first[0:2, :] = 255
    later = np.zeros(size, np.uint8)
    later[20:, 2:20] = 9
    later[0:6, 0:6] = 3
    first[rng.random(size) < 0.02] = 7
    return feats, {0: first, 3: later}


def scaled(name: str, radius: int, n_context: int | None = None) -> PropagationParams:
    """A preset on a small native-size grid, window scaled down so that it cuts."""
    preset = get_preset(name)
    return dataclasses.replace(
        preset,
        radius=radius,
        n_context=preset.n_context if n_context is None else n_context,
        short_side=None,
        size_multiple=8,
        size_overrides=(),
    )


def run_propagator(
    params: PropagationParams,
    feats: torch.Tensor,
    annotations: dict[int, np.ndarray],
    size: tuple[int, int],
    **kwargs: object,
) -> tuple[Propagator, list[torch.Tensor]]:
    prop = Propagator(params, (3, 7, 9), PATCH, size, dtype=torch.float64, **kwargs)  # type: ignore[arg-type]
    return prop, [prop.step(feats[t], annotations.get(t)) for t in range(feats.shape[0])]


@pytest.mark.parametrize(
    ("name", "radius", "n_context", "tile", "transpose"),
    [
        ("ino-davis", 3, None, None, None),  # context longer than the video
        ("ino-davis", 3, 2, (4, 5), False),  # context cut, tiles not dividing the grid
        ("ino-ytvos", 4, 3, (4, 4), True),
        ("dino-davis", 1, None, None, None),
        ("dino-davis", 2, 1, (5, 2), True),
    ],
)
def test_matches_reference_loop(name, radius, n_context, tile, transpose):
    size = (48, 72)  # grid 6x9
    params = scaled(name, radius, n_context)
    feats, annotations = make_video(8, size, 16, seed=radius * 10 + (n_context or 0))
    _, outs = run_propagator(params, feats, annotations, size, tile=tile, transpose=transpose)
    refs = reference_video(params, (3, 7, 9), feats, annotations)
    for t, (out, ref) in enumerate(zip(outs, refs, strict=True)):
        assert out.shape == (4, 6, 9), t
        assert_same(out, ref, atol=1e-10)
    # Object 9 entered at frame 3: two chains, and it is predicted afterwards.
    assert outs[2][3].abs().max().item() == 0.0
    assert outs[5][3].max().item() > 0.5


def test_float32_propagator_matches_reference_within_1e5():
    size = (40, 64)
    params = scaled("ino-davis", 2, 3)
    feats, annotations = make_video(6, size, 32, seed=5)
    prop = Propagator(params, (3, 7, 9), PATCH, size)
    outs = [prop.step(feats[t].float(), annotations.get(t)) for t in range(6)]
    refs = reference_video(params, (3, 7, 9), feats, annotations)
    for out, ref in zip(outs, refs, strict=True):
        assert out.dtype == torch.float32
        assert_same(out, ref, atol=1e-5)


def test_first_frame_output_is_the_annotation():
    size = (48, 72)
    feats, annotations = make_video(2, size, 8, seed=1)
    prop = Propagator(scaled("ino-davis", 2), (3, 7, 9), PATCH, size, dtype=torch.float64)
    ids = prop.step_ids(feats[0], annotations[0])
    expected = annotations[0].copy()
    expected[expected == 255] = 0
    np.testing.assert_array_equal(ids, expected)
    later = prop.step_ids(feats[1])
    assert later.shape == size and later.dtype == np.uint8


@pytest.mark.parametrize("name", ["ino-davis", "dino-davis"])
def test_identical_frames_keep_the_mask(name):
    # Stripes one patch wide survive the down- and up-scaling exactly (see test_labels).
    size = (32, 48)
    stripes = np.array([[0, 2, 2, 5, 0, 5]], dtype=np.uint8)
    mask = np.kron(np.repeat(stripes, 4, axis=0), np.ones((PATCH, PATCH), np.uint8))
    gen = torch.Generator().manual_seed(0)
    frame_feats = F.normalize(torch.randn(64, 4, 6, generator=gen), dim=0)
    prop = Propagator(scaled(name, 2, 3), (2, 5), PATCH, size)
    first = prop.step(frame_feats, mask)
    for _ in range(6):
        soft = prop.step(frame_feats)
        np.testing.assert_array_equal(prop.readout(soft), mask)
        assert torch.equal(soft.argmax(0), first.argmax(0))


def test_memory_is_bounded():
    size = (16, 24)
    params = scaled("ino-davis", 1, 2)
    feats, _ = make_video(12, size, 4, seed=2)
    first = np.zeros(size, np.uint8)
    first[:8] = 3
    later = np.zeros(size, np.uint8)
    later[8:, :8] = 9
    prop = Propagator(params, (3, 9), PATCH, size, dtype=torch.float64)
    for t in range(12):
        prop.step(feats[t], {0: first, 5: later}.get(t))
        if t >= 5:
            # chain starts 0 and 5, plus the 2 most recent frames
            assert set(prop.cached_frames) == {0, 5, t - 1, t}
    assert prop.frames_seen == 12
    assert prop.context_of(0, 12) == [0, 10, 11]
    assert prop.context_of(5, 7) == [5, 6]


def test_user_errors():
    size = (16, 24)
    feats, _ = make_video(2, size, 4, seed=0)
    prop = Propagator(scaled("ino-davis", 1), (3,), PATCH, size)
    with pytest.raises(InovosError, match="first frame"):
        prop.step(feats[0].float())
    with pytest.raises(InovosError, match=r"\[4\]"):
        prop.step(feats[0].float(), np.full(size, 4, np.uint8))
    with pytest.raises(InovosError, match="frame size"):
        prop.step(feats[0].float(), np.zeros((8, 8), np.uint8))
    prop.step(feats[0].float(), np.full(size, 3, np.uint8))
    with pytest.raises(InovosError, match=r"\[5\]"):
        prop.step(feats[1].float(), np.full(size, 5, np.uint8))
    with pytest.raises(ValueError, match="feats"):
        prop.step(torch.zeros(4, 3, 3))


# ----------------------------------------------------------------------------- features


class StubViT:
    """block_output returns known tokens: cls = -1, patch n of image b = (b, n, x.mean())."""

    patch_size = 4
    embed_dim = 3

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def block_output(self, x: torch.Tensor, n_last: int) -> torch.Tensor:
        self.calls.append((x.shape[0], n_last))
        b, _, h, w = x.shape
        n = (h // 4) * (w // 4)
        tokens = torch.empty(b, 1 + n, 3)
        tokens[:, 0] = -1.0
        tokens[:, 1:, 0] = x.flatten(1)[:, :1] + 1.0  # first pixel of each image, + 1
        tokens[:, 1:, 1] = torch.arange(1, n + 1, dtype=torch.float32)
        tokens[:, 1:, 2] = 2.0
        return tokens


def test_extract_features_grid_order_norm_and_batches():
    frames = torch.arange(5, dtype=torch.float32)[:, None, None, None].expand(5, 3, 8, 12)
    model = StubViT()
    feats = extract_features(model, frames.contiguous(), n_last=6, batch_size=2)
    assert feats.shape == (5, 3, 2, 3)
    assert model.calls == [(2, 6), (2, 6), (1, 6)]
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(5, 2, 3))
    # Patch tokens fill the grid row-major and the cls token is dropped.
    raw = torch.stack(
        [torch.full((2, 3), 3.0), torch.arange(1.0, 7.0).view(2, 3), torch.full((2, 3), 2.0)]
    )
    torch.testing.assert_close(feats[2], F.normalize(raw, dim=0))
    torch.testing.assert_close(extract_features(StubViT(), frames.contiguous(), 6), feats)


def test_extract_features_rejects_bad_input():
    with pytest.raises(ValueError, match="multiple of the patch"):
        extract_features(StubViT(), torch.zeros(1, 3, 6, 8), 1)
    with pytest.raises(ValueError, match="CUDA"):
        extract_features(StubViT(), torch.zeros(1, 3, 8, 8), 1, autocast_dtype=torch.bfloat16)


def test_late_object_blend_by_hand():
    # 24x24 frames, patch 8 -> a 3x3 grid. Object 9 enters at frame 1 on rows 12..23; the
    # bilinear (align_corners) downscale samples rows 0, 11.5 and 23, so its coverage per
    # grid row is 0, 0.5 and 1. The blend pred <- (1 - s) * pred + s * A gives the new
    # object s * a = a^2 on a boundary cell of coverage a (0.25 here, not 0.5).
    size = (24, 24)
    params = scaled("ino-davis", 2)
    gen = torch.Generator().manual_seed(3)
    feats = F.normalize(torch.randn(2, 8, 3, 3, generator=gen, dtype=torch.float64), dim=1)
    first = np.zeros(size, np.uint8)
    first[:8] = 3
    later = np.zeros(size, np.uint8)
    later[12:] = 9

    def run(annotation: np.ndarray | None) -> torch.Tensor:
        prop = Propagator(params, (3, 9), PATCH, size, dtype=torch.float64)
        prop.step(feats[0], first)
        return prop.step(feats[1], annotation)

    pred, blended = run(None), run(later)
    assert pred[2].abs().max().item() == 0.0  # object 9 is in no chain before frame 1
    cover = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)[:, None].expand(3, 3)
    for channel in (0, 1):
        assert_same(blended[channel], (1 - cover) * pred[channel], atol=1e-12)
    expected_new = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)[:, None].expand(3, 3)
    assert_same(blended[2], expected_new, atol=1e-12)
