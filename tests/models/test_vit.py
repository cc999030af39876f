"""ViT backbone: shapes, DINO key names, masking, positions, initialisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inovos.errors import InovosError
from inovos.models.spec import TRAIN_ARCHS, arch_spec
from inovos.models.vit import VisionTransformer, build_backbone, interpolate_pos_embed


def _vit(
    arch: str,
    patch_size: int = 8,
    img_size: int = 64,
    drop_path_rate: float = 0.0,
    **overrides: int,
) -> VisionTransformer:
    return build_backbone(arch_spec(arch, patch_size, img_size, **overrides), drop_path_rate)


def vit_tiny(**kwargs) -> VisionTransformer:
    return _vit("vit_tiny", **kwargs)


def _tiny(depth: int = 3, seed: int = 0, **kwargs) -> VisionTransformer:
    torch.manual_seed(seed)
    return vit_tiny(depth=depth, **kwargs).eval()


def _expected_dino_keys(depth: int) -> list[str]:
    keys = [
        "cls_token",
        "mask_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
    ]
    per_block = [
        "norm1.weight",
        "norm1.bias",
        "attn.qkv.weight",
        "attn.qkv.bias",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
    ]
    for i in range(depth):
        keys += [f"blocks.{i}.{k}" for k in per_block]
    return [*keys, "norm.weight", "norm.bias"]


@pytest.mark.parametrize("arch", TRAIN_ARCHS)
def test_presets_have_published_sizes(arch: str) -> None:
    with torch.device("meta"):
        model = _vit(arch, patch_size=8, img_size=64)
    spec = {"vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12)}[arch]
    d, depth, _ = spec
    assert (model.embed_dim, model.depth, model.num_heads) == spec
    assert (model.patch_size, model.img_size) == (8, 64)
    assert model.pos_embed.shape == (1, 65, d)
    assert model.blocks[0].mlp.fc1.weight.shape == (4 * d, d)
    per_block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    expected = 2 * d + 65 * d + (3 * 64 * d + d) + depth * per_block + 2 * d
    assert sum(p.numel() for p in model.parameters()) == expected  # ViT-S/8: 21.39M at 64 px


@pytest.mark.parametrize("arch", TRAIN_ARCHS)
@pytest.mark.parametrize("patch", [8, 16])
def test_output_shapes(arch: str, patch: int) -> None:
    model = _vit(arch, patch_size=patch, img_size=64, depth=1).eval()
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        out = model(x)
        layers = model.intermediate_layers(x, n=1)
    d = model.embed_dim
    assert out.shape == (2, 1 + (32 // patch) * (48 // patch), d)
    assert len(layers) == 1 and layers[0].shape == out.shape


def test_state_dict_keys_equal_dino_layout() -> None:
    model = vit_tiny(depth=2)
    assert sorted(model.state_dict()) == sorted(_expected_dino_keys(2))


def test_mask_tokens_replace_patches_before_positions() -> None:
    model = _tiny()
    x = torch.randn(2, 3, 64, 64)
    mask = torch.rand(2, 64) < 0.4
    mask[0, 0] = True
    mask[1, 5] = False
    with torch.no_grad():
        masked = model.prepare_tokens(x, mask)
        plain = model.prepare_tokens(x)
    pos = model.pos_embed[0, 1:]  # (64, D)
    for b in range(2):
        for i in range(64):
            expected = model.mask_token[0, 0] + pos[i] if mask[b, i] else plain[b, 1 + i]
            torch.testing.assert_close(masked[b, 1 + i], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(masked[:, 0], plain[:, 0])
    with torch.no_grad():
        as_grid = model.prepare_tokens(x, mask.reshape(2, 8, 8))
    torch.testing.assert_close(as_grid, masked)


def test_mask_token_receives_gradient_and_bad_mask_is_rejected() -> None:
    model = _tiny(depth=1)
    mask = torch.zeros(1, 64, dtype=torch.bool)
    mask[0, 3] = True
    model(torch.randn(1, 3, 64, 64), mask).sum().backward()
    assert model.mask_token.grad is not None and model.mask_token.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        model.prepare_tokens(torch.randn(1, 3, 64, 64), torch.zeros(1, 63, dtype=torch.bool))


def _positions_added(model: VisionTransformer, x: torch.Tensor) -> torch.Tensor:
    """prepare_tokens(x) minus [cls, patch tokens]: the positional embedding that was added."""
    with torch.no_grad():
        base = torch.cat((model.cls_token, model.patch_embed(x)), dim=1)
        return model.prepare_tokens(x) - base


def test_pos_embed_identity_on_native_grid() -> None:
    model = _tiny()
    x = torch.randn(1, 3, 64, 64)
    assert model.pos_embed_for(8, 8, square=True) is model.pos_embed
    torch.testing.assert_close(_positions_added(model, x), model.pos_embed.detach())


@pytest.mark.parametrize(("height", "width"), [(40, 56), (96, 96), (32, 128), (480, 856)])
def test_pos_embed_interpolation_uses_scale_factor_rule(height: int, width: int) -> None:
    model = _tiny(depth=1)
    x = torch.randn(1, 3, height, width)
    h, w = height // 8, width // 8
    d = model.embed_dim
    grid = model.pos_embed.detach()[:, 1:].reshape(1, 8, 8, d).permute(0, 3, 1, 2)
    resized = F.interpolate(
        grid, scale_factor=((h + 0.1) / 8, (w + 0.1) / 8), mode="bicubic", align_corners=False
    )
    expected = torch.cat(
        (model.pos_embed.detach()[:, :1], resized.permute(0, 2, 3, 1).reshape(1, h * w, d)), dim=1
    )
    got = _positions_added(model, x)
    assert got.shape == (1, 1 + h * w, d)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_interpolation_always_gives_exact_grid() -> None:
    for g in (8, 14, 28):
        pos = torch.randn(1, 1 + g * g, 4)
        for h in range(1, 70, 3):
            for w in range(1, 130, 7):
                assert interpolate_pos_embed(pos, h, w).shape == (1, 1 + h * w, 4)


def test_block_output_equals_intermediate_layers_and_forward() -> None:
    model = _tiny(depth=4)
    x = torch.randn(2, 3, 48, 40)
    with torch.no_grad():
        forward = model(x)
        all_layers = model.intermediate_layers(x, n=4)
        torch.testing.assert_close(model.intermediate_layers(x, 1)[0], forward, rtol=0, atol=0)
        torch.testing.assert_close(all_layers[-1], forward, rtol=0, atol=0)
        for n in range(1, 5):
            layers = model.intermediate_layers(x, n)
            assert len(layers) == n
            torch.testing.assert_close(layers, all_layers[4 - n :], rtol=0, atol=0)
            torch.testing.assert_close(model.block_output(x, n), layers[0], rtol=0, atol=0)
    with pytest.raises(ValueError):
        model.block_output(x, 5)


def test_block_output_stops_early() -> None:
    model = _tiny(depth=5)
    calls: list[int] = []
    for i, block in enumerate(model.blocks):
        block.register_forward_hook(lambda *_, i=i: calls.append(i))
    with torch.no_grad():
        model.block_output(torch.randn(1, 3, 32, 32), n_last=3)
    assert calls == [0, 1, 2]


def test_drop_path_rates_grow_linearly_with_depth() -> None:
    model = vit_tiny(depth=5, drop_path_rate=0.2)
    rates = [blk.drop_path.drop_prob for blk in model.blocks]
    assert rates == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])


def test_initialisation() -> None:
    torch.manual_seed(0)
    model = _vit("vit_small", depth=2)
    for name, p in model.named_parameters():
        if name.startswith("patch_embed"):  # Conv2d keeps PyTorch's default init, as in DINO
            continue
        if name.endswith("bias"):
            assert torch.all(p == 0), name
        elif "norm" in name:
            assert torch.all(p == 1), name
    for p in (model.blocks[0].attn.qkv.weight, model.blocks[1].mlp.fc2.weight, model.pos_embed):
        assert abs(p.std().item() - 0.02) < 0.002
    assert 0 < model.mask_token.std().item() < 0.05 and 0 < model.cls_token.std().item() < 0.05


def test_arch_spec_validates() -> None:
    model = _vit("vit_tiny", 16, 224, drop_path_rate=0.1)
    assert (model.patch_size, model.img_size, model.pos_embed.shape[1]) == (16, 224, 197)
    with pytest.raises(InovosError, match="unknown arch"):
        arch_spec("vit_huge", 8, 64)
    with pytest.raises(InovosError, match="patch_size"):
        arch_spec("vit_tiny", 14, 56)
    with pytest.raises(InovosError, match="img_size"):
        arch_spec("vit_tiny", 8, 60)
    with pytest.raises(InovosError, match="not divisible by num_heads"):
        arch_spec("vit_tiny", 8, 64, num_heads=5)
    assert arch_spec("vit_tiny", 8, 64, num_heads=6).arch == "vit_tiny"
    assert arch_spec("vit_tiny", 8, 64, embed_dim=24).arch == "custom"
