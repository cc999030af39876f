"""Raw pixels as features: the no-learning baseline of label propagation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PixelFeatures(nn.Module):
    """Each patch's normalised pixels, flattened, as its feature (D = 3 * p * p).

    It offers the one method propagation needs from a backbone, ``block_output``,
    so the same protocol scores raw colour against learned features.
    """

    def __init__(self, patch_size: int = 8) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = 3 * patch_size * patch_size

    def block_output(self, x: torch.Tensor, n_last: int = 1) -> torch.Tensor:
        """x: (B, 3, H, W) -> (B, 1 + N, 3*p*p); token 0 is a zero stand-in for cls."""
        patches = F.unfold(x, kernel_size=self.patch_size, stride=self.patch_size)  # (B, D, N)
        tokens = patches.transpose(1, 2)  # (B, N, D)
        return torch.cat([tokens.new_zeros(tokens.shape[0], 1, tokens.shape[2]), tokens], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as ``block_output``."""
        return self.block_output(x)
