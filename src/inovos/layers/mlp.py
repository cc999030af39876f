"""The transformer feed-forward block: Linear -> GELU -> Linear."""

from __future__ import annotations

import torch
from torch import nn


class Mlp(nn.Module):
    """Two-layer GELU MLP with DINO's parameter names (``fc1``, ``fc2``).

    Args:
        in_features: input and output width D.
        hidden_features: hidden width (4 * D in the ViT presets).
    """

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D) -> (..., D)."""
        return self.fc2(self.act(self.fc1(x)))
