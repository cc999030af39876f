"""Pre-norm transformer block."""

from __future__ import annotations

import torch
from torch import nn

from inovos.layers.attention import Attention
from inovos.layers.drop_path import DropPath
from inovos.layers.layer_scale import LayerScale
from inovos.layers.mlp import Mlp
from inovos.layers.swiglu import SwiGLUFFN


class Block(nn.Module):
    """x = x + DropPath(LS1(Attn(LN(x)))); x = x + DropPath(LS2(MLP(LN(x)))).

    LS1/LS2 are LayerScale gains (DINOv2) or the identity (DINO/INO).

    Args:
        dim: token width D.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / D.
        drop_path: stochastic depth rate of both branches.
        norm_eps: LayerNorm epsilon.
        layerscale: add LayerScale gains ``ls1``/``ls2`` (DINOv2 layout).
        ffn: "mlp" (GELU MLP, ``fc1``/``fc2``) or "swiglu" (DINOv2 ViT-g, ``w12``/``w3``).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
        layerscale: bool = False,
        ffn: str = "mlp",
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=True)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        if ffn not in ("mlp", "swiglu"):
            raise ValueError(f"ffn must be 'mlp' or 'swiglu', got {ffn!r}")
        hidden = int(dim * mlp_ratio)
        self.mlp: nn.Module = Mlp(dim, hidden) if ffn == "mlp" else SwiGLUFFN(dim, hidden)
        self.ls1: nn.Module = LayerScale(dim) if layerscale else nn.Identity()
        self.ls2: nn.Module = LayerScale(dim) if layerscale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D) -> (B, N, D)."""
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
