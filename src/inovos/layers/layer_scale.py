"""LayerScale: a learned per-channel gain on a residual branch (DINOv2's ``ls1``/``ls2``)."""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """x -> x * gamma, gamma of shape (D,) (DINOv2 name ``gamma``).

    Args:
        dim: token width D.
        init_value: initial value of every gain (DINOv2's released models use 1.0 at build
            time; the trained values come from the weights).
    """

    def __init__(self, dim: int, init_value: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D) -> (..., D)."""
        return x * self.gamma
