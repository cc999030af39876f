"""DINOv2 backbones: official file layout, LayerScale, registers, positions, against a reference.

The reference below is DINOv2's published architecture written out from its description
(patch embedding, cls token, positional embedding resized by DINOv2's rule, register
tokens after cls, pre-norm blocks with per-head attention and LayerScale, final norm),
with plain loops and no project code. Weights are random but laid out exactly like the
released ``dinov2_vit*14[_reg4]_pretrain.pth`` files.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from inovos.errors import InovosError
from inovos.models import load_backbone, random_backbone


def _official_state(
    dim: int, depth: int, registers: int, seed: int, patch: int = 14, gated: int = 0
) -> dict[str, torch.Tensor]:
    """Random tensors with the key names and shapes of DINOv2's released backbones.

    ``gated`` > 0: ViT-g's SwiGLU feed-forward of that gated width instead of the MLP.
    """
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    state = {
        "cls_token": rnd(1, 1, dim, scale=1.0),
        "pos_embed": rnd(1, 1 + 37 * 37, dim, scale=0.5),
        "mask_token": rnd(1, dim),
        "patch_embed.proj.weight": rnd(dim, 3, patch, patch),
        "patch_embed.proj.bias": rnd(dim),
        "norm.weight": 1 + rnd(dim, scale=0.2),
        "norm.bias": rnd(dim),
    }
    if registers:
        state["register_tokens"] = rnd(1, registers, dim, scale=1.0)
    for i in range(depth):
        b = f"blocks.{i}."
        state |= {
            b + "norm1.weight": 1 + rnd(dim, scale=0.2),
            b + "norm1.bias": rnd(dim),
            b + "attn.qkv.weight": rnd(3 * dim, dim),
            b + "attn.qkv.bias": rnd(3 * dim),
            b + "attn.proj.weight": rnd(dim, dim),
            b + "attn.proj.bias": rnd(dim),
            b + "ls1.gamma": rnd(dim, scale=1.0),
            b + "norm2.weight": 1 + rnd(dim, scale=0.2),
            b + "norm2.bias": rnd(dim),
            b + "ls2.gamma": rnd(dim, scale=1.0),
        }
        if gated:
            state |= {
                b + "mlp.w12.weight": rnd(2 * gated, dim),
                b + "mlp.w12.bias": rnd(2 * gated),
                b + "mlp.w3.weight": rnd(dim, gated),
                b + "mlp.w3.bias": rnd(dim),
            }
        else:
            state |= {
                b + "mlp.fc1.weight": rnd(4 * dim, dim),
                b + "mlp.fc1.bias": rnd(4 * dim),
                b + "mlp.fc2.weight": rnd(dim, 4 * dim),
                b + "mlp.fc2.bias": rnd(dim),
            }
    return state


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-6) * weight + bias


def _reference_positions(
    pos: torch.Tensor, h: int, w: int, square: bool, registers: int
) -> torch.Tensor:
    """DINOv2's rule: as is on the native square grid; else bicubic, scale factors
    (n + 0.1) / 37 without registers, target size with antialiasing with registers."""
    if h * w == 37 * 37 and square:
        return pos
    grid = pos[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
    if registers:
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True)
    else:
        scale = ((h + 0.1) / 37, (w + 0.1) / 37)
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
    return torch.cat((pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)), dim=1)


def _reference(
    s: dict[str, torch.Tensor], x: torch.Tensor, heads: int, registers: int, last: int = 1
) -> torch.Tensor:
    """Normed patch tokens (B, h*w, D) after block ``depth - last`` (0-based)."""
    b, _, height, width = x.shape
    h, w = height // 14, width // 14
    dim = s["cls_token"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("blocks."))
    patches = F.conv2d(x, s["patch_embed.proj.weight"], s["patch_embed.proj.bias"], stride=14)
    tokens = torch.cat((s["cls_token"].expand(b, 1, dim), patches.flatten(2).transpose(1, 2)), 1)
    tokens = tokens + _reference_positions(s["pos_embed"], h, w, height == width, registers)
    if registers:
        regs = s["register_tokens"].expand(b, registers, dim)
        tokens = torch.cat((tokens[:, :1], regs, tokens[:, 1:]), 1)
    hd = dim // heads
    for i in range(depth - last + 1):
        p = f"blocks.{i}."
        y = _layer_norm(tokens, s[p + "norm1.weight"], s[p + "norm1.bias"])
        qkv = y @ s[p + "attn.qkv.weight"].T + s[p + "attn.qkv.bias"]
        outs = []
        for head in range(heads):
            q = qkv[..., head * hd : (head + 1) * hd]
            k = qkv[..., dim + head * hd : dim + (head + 1) * hd]
            v = qkv[..., 2 * dim + head * hd : 2 * dim + (head + 1) * hd]
            weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1)
            outs.append(weights @ v)
        attn = torch.cat(outs, -1) @ s[p + "attn.proj.weight"].T + s[p + "attn.proj.bias"]
        tokens = tokens + attn * s[p + "ls1.gamma"]
        y = _layer_norm(tokens, s[p + "norm2.weight"], s[p + "norm2.bias"])
        if p + "mlp.w12.weight" in s:  # SwiGLU: w3(silu(a) * b), (a, b) halves of w12(y)
            ab = y @ s[p + "mlp.w12.weight"].T + s[p + "mlp.w12.bias"]
            a, b_ = ab[..., : ab.shape[-1] // 2], ab[..., ab.shape[-1] // 2 :]
            mlp = (a * torch.sigmoid(a) * b_) @ s[p + "mlp.w3.weight"].T + s[p + "mlp.w3.bias"]
        else:
            hidden = F.gelu(y @ s[p + "mlp.fc1.weight"].T + s[p + "mlp.fc1.bias"])
            mlp = hidden @ s[p + "mlp.fc2.weight"].T + s[p + "mlp.fc2.bias"]
        tokens = tokens + mlp * s[p + "ls2.gamma"]
    normed = _layer_norm(tokens, s["norm.weight"], s["norm.bias"])
    return normed[:, 1 + registers :]


@pytest.mark.parametrize("registers", [0, 4])
@pytest.mark.parametrize("size", [(70, 56), (98, 98)])
def test_released_layout_loads_and_matches_the_reference(
    tmp_path: Path, registers: int, size: tuple[int, int]
) -> None:
    state = _official_state(384, 3, registers, seed=registers)
    path = tmp_path / "some_dinov2_file.pth"
    torch.save(state, path)
    model, info = load_backbone(path)
    spec = info.spec
    assert spec is not None
    assert (spec.family, spec.patch_size, spec.img_size, spec.n_registers) == (
        "dinov2",
        14,
        518,
        registers,
    )
    assert (spec.embed_dim, spec.depth, spec.num_heads) == (384, 3, 6)
    assert set(model.state_dict()) == set(state)
    torch.manual_seed(1)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        for last in (1, 2, 3):
            got = model.block_output(x, last)
            assert got.shape == (2, 1 + (size[0] // 14) * (size[1] // 14), 384)
            expected = _reference(state, x, heads=6, registers=registers, last=last)
            torch.testing.assert_close(got[:, 1:], expected, rtol=1e-4, atol=1e-4)


def test_native_grid_uses_positions_as_stored(tmp_path: Path) -> None:
    state = _official_state(384, 1, 0, seed=5)
    path = tmp_path / "dinov2_file.pth"
    torch.save(state, path)
    model, _ = load_backbone(path)
    x = torch.randn(1, 3, 518, 518)
    with torch.no_grad():
        torch.testing.assert_close(
            model.block_output(x, 1)[:, 1:], _reference(state, x, 6, 0), rtol=1e-4, atol=1e-4
        )


@pytest.mark.parametrize(
    ("name", "dims"),
    [
        ("dinov2_vits14", (384, 12, 6, 0)),
        ("dinov2_vitb14_reg4", (768, 12, 12, 4)),
        ("dinov2_vitl14", (1024, 24, 16, 0)),
        ("dinov2_vitg14_reg4", (1536, 40, 24, 4)),
    ],
)
def test_random_dinov2_models_have_the_published_sizes(name: str, dims: tuple) -> None:
    with torch.device("meta"):
        model = random_backbone(name)
    assert (model.embed_dim, model.depth, model.num_heads, model.n_registers) == dims
    assert (model.patch_size, model.img_size, tuple(model.mask_token.shape)) == (
        14,
        518,
        (1, dims[0]),
    )
    assert model.blocks[0].ls1.gamma.shape == (dims[0],)


def test_giant_swiglu_layout_matches_the_reference(tmp_path: Path) -> None:
    # ViT-g/14: width 1536, 24 heads, SwiGLU of gated width 4096 (2/3 of 6144, to /8).
    state = _official_state(1536, 1, 4, seed=7, gated=4096)
    path = tmp_path / "giant_one_block.pth"
    torch.save(state, path)
    model, info = load_backbone(path)
    assert info.spec is not None and (info.spec.ffn, info.spec.num_heads) == ("swiglu", 24)
    assert set(model.state_dict()) == set(state)
    x = torch.randn(1, 3, 28, 42)
    with torch.no_grad():
        torch.testing.assert_close(
            model.block_output(x, 1)[:, 1:], _reference(state, x, 24, 4), rtol=1e-4, atol=1e-4
        )


def test_random_small_with_registers_matches_the_reference_after_a_file_round_trip(
    tmp_path: Path,
) -> None:
    model = random_backbone("dinov2_vits14_reg4", seed=3)
    path = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, path)
    loaded, _ = load_backbone(path)
    x = torch.randn(1, 3, 42, 84)
    with torch.no_grad():
        got = loaded.block_output(x, 1)[:, 1:]
        torch.testing.assert_close(got, _reference(state, x, 6, 4), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got, model.block_output(x, 1)[:, 1:], rtol=0, atol=0)


def test_bad_dinov2_files_give_one_line(tmp_path: Path) -> None:
    no_registers = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(_official_state(384, 2, 0, seed=1), no_registers)
    with pytest.raises(InovosError, match=r"missing register tokens.*should have 4"):
        load_backbone(no_registers)
    patch16 = tmp_path / "converted.pth"
    torch.save(_official_state(384, 2, 0, seed=1, patch=16), patch16)
    with pytest.raises(InovosError, match="patch size 16; DINOv2 backbones have patch size 14"):
        load_backbone(patch16)
    wrong_size = tmp_path / "dinov2_vitb14_pretrain.pth"
    torch.save(_official_state(384, 2, 0, seed=1), wrong_size)
    with pytest.raises(InovosError, match="should have width 768, this one has 384"):
        load_backbone(wrong_size)
    plain = tmp_path / "weights.pth"
    torch.save(_official_state(384, 2, 0, seed=1), plain)
    with pytest.raises(InovosError, match="missing register tokens"):
        load_backbone(plain, arch="dinov2_vits14_reg4")
