"""Fixtures of the segment tests."""

from __future__ import annotations

import pytest
import torch

from inovos.segment.models import load_feature_model


class CountingModel(torch.nn.Module):
    """Wraps a backbone and counts the frames it computes features for."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.frames = 0

    @property
    def patch_size(self) -> int:
        return int(self.inner.patch_size)

    @property
    def embed_dim(self) -> int:
        return int(self.inner.embed_dim)

    def block_output(self, x: torch.Tensor, n_last: int) -> torch.Tensor:
        self.frames += x.shape[0]
        return self.inner.block_output(x, n_last)


@pytest.fixture()
def counting_model() -> CountingModel:
    """A random ViT-Ti/16 (seed 1) that counts the frames it computes features for."""
    return CountingModel(load_feature_model("random:vit_tiny", patch_size=16, seed=1))
