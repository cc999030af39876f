"""Image to patch tokens: a strided convolution."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """Conv2d(in_chans, D, kernel=p, stride=p) then flatten to tokens (DINO name ``proj``).

    Args:
        patch_size: patch side p.
        in_chans: input channels.
        embed_dim: token width D.
    """

    def __init__(self, patch_size: int, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, h*w, D), h = H // p, w = W // p, row-major."""
        return self.proj(x).flatten(2).transpose(1, 2)
