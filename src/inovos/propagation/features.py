"""Per-frame features for label propagation: one ViT layer, patch tokens, L2-normalised."""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


class FeatureModel(Protocol):
    """What propagation needs from a backbone (``inovos.models.vit.VisionTransformer``)."""

    @property
    def patch_size(self) -> int:
        """Patch side in pixels."""
        ...

    @property
    def embed_dim(self) -> int:
        """Token dimension D."""
        ...

    def block_output(self, x: torch.Tensor, n_last: int) -> torch.Tensor:
        """``intermediate_layers(x, n_last)[0]``: (B, 3, H, W) -> (B, 1 + N, D), cls first."""
        ...


def extract_features(
    model: FeatureModel,
    frames: torch.Tensor,
    n_last: int,
    batch_size: int | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """L2-normalised patch tokens (cls dropped) of one ViT layer, final norm applied.

    Args:
        model: the backbone (in eval mode), on the same device as ``frames``.
        frames: (B, 3, H, W) normalised model input, H and W multiples of the patch size.
        n_last: the layer: output of the earliest of the last ``n_last`` blocks, final norm
            applied.
        batch_size: frames per forward pass (default: all at once).
        autocast_dtype: float16/bfloat16 autocast on CUDA (None: full precision).

    Returns:
        (B, D, H/p, W/p) float32, unit L2 norm over D at every position.
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (B, 3, H, W), got {tuple(frames.shape)}")
    patch = int(model.patch_size)
    height, width = frames.shape[-2:]
    if height % patch or width % patch:
        raise ValueError(f"input {height}x{width} is not a multiple of the patch size {patch}")
    if autocast_dtype is not None and frames.device.type != "cuda":
        raise ValueError("autocast_dtype is only supported for CUDA inputs")
    grid = (height // patch, width // patch)
    step = batch_size or frames.shape[0]
    outs = []
    with torch.inference_mode():
        for start in range(0, frames.shape[0], step):
            batch = frames[start : start + step]
            if autocast_dtype is None:
                tokens = model.block_output(batch, n_last)
            else:
                with torch.autocast(device_type="cuda", dtype=autocast_dtype):
                    tokens = model.block_output(batch, n_last)
            outs.append(tokens_to_grid(tokens.float(), grid))
    return torch.cat(outs)


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, 1 + N, D) tokens, cls first -> (B, D, h, w) L2-normalised patch features."""
    patches = tokens[:, 1:]  # (B, N, D)
    if patches.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"{patches.shape[1]} patch tokens do not fill a {grid[0]}x{grid[1]} grid")
    feats = patches.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)  # (B, D, h, w)
    return F.normalize(feats, dim=1)
