"""The SwiGLU feed-forward block of DINOv2's ViT-g/14."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def swiglu_hidden(hidden_features: int) -> int:
    """DINOv2's SwiGLU width for an MLP of ``hidden_features``: 2/3 of it, rounded up to /8."""
    return (int(hidden_features * 2 / 3) + 7) // 8 * 8


class SwiGLUFFN(nn.Module):
    """w3(silu(a) * b) with (a, b) = w12(x) split in halves (DINOv2 names ``w12``, ``w3``).

    Args:
        in_features: input and output width D.
        hidden_features: the MLP width it replaces (4 * D); the gated width is
            :func:`swiglu_hidden` of it (4096 for D = 1536).
    """

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        hidden = swiglu_hidden(hidden_features)
        self.w12 = nn.Linear(in_features, 2 * hidden)
        self.w3 = nn.Linear(hidden, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D) -> (..., D)."""
        gate, value = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * value)
