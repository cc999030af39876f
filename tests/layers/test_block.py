"""Transformer block and stochastic depth: against written-out references."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from inovos.layers import Block, drop_path


def _reference_block(block: Block, x: torch.Tensor) -> torch.Tensor:
    """Pre-norm block with attention written out as softmax(q k^T / sqrt(d)) v."""
    b, n, d = x.shape
    heads = block.attn.num_heads
    hd = d // heads
    y = F.layer_norm(x, (d,), block.norm1.weight, block.norm1.bias, eps=1e-6)
    qkv = y @ block.attn.qkv.weight.T + block.attn.qkv.bias  # (B, N, 3D)
    q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
    q, k, v = (t.reshape(b, n, heads, hd).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
    attn = (weights @ v).transpose(1, 2).reshape(b, n, d)
    x = x + attn @ block.attn.proj.weight.T + block.attn.proj.bias
    y = F.layer_norm(x, (d,), block.norm2.weight, block.norm2.bias, eps=1e-6)
    hidden = F.gelu(y @ block.mlp.fc1.weight.T + block.mlp.fc1.bias)
    return x + hidden @ block.mlp.fc2.weight.T + block.mlp.fc2.bias


def test_block_matches_written_out_attention() -> None:
    torch.manual_seed(0)
    block = Block(48, num_heads=4).eval()
    for p in block.parameters():  # non-trivial norms and biases
        p.data.normal_(0, 0.3)
    x = torch.randn(2, 17, 48)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _reference_block(block, x), atol=1e-5, rtol=1e-5)


def test_drop_path_scales_kept_samples_and_is_identity_in_eval() -> None:
    x = torch.ones(1000, 3, 2)
    assert drop_path(x, 0.5, training=False) is x
    torch.manual_seed(0)
    out = drop_path(x, 0.25, training=True)
    per_sample = out.reshape(1000, -1)
    kept = per_sample[:, 0] != 0
    torch.testing.assert_close(per_sample[kept], torch.full_like(per_sample[kept], 1 / 0.75))
    assert (per_sample == per_sample[:, :1]).all()  # one draw per sample
    assert 0.18 < (per_sample[:, 0] == 0).float().mean() < 0.32
