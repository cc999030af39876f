"""The Vision Transformer backbone (DINO/INO layout) and its size presets."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inovos.errors import InovosError
from inovos.layers.block import Block
from inovos.layers.patch_embed import PatchEmbed

logger = logging.getLogger(__name__)

PATCH_SIZES = (8, 16)


@dataclass(frozen=True)
class ArchSpec:
    """Width, depth and heads of one ViT size preset."""

    embed_dim: int
    depth: int
    num_heads: int


ARCHS: dict[str, ArchSpec] = {
    "vit_tiny": ArchSpec(192, 12, 3),
    "vit_small": ArchSpec(384, 12, 6),
    "vit_base": ArchSpec(768, 12, 12),
}


def arch_for_embed_dim(embed_dim: int) -> str | None:
    """The preset name whose width is ``embed_dim``, or None."""
    for name, spec in ARCHS.items():
        if spec.embed_dim == embed_dim:
            return name
    return None


def interpolate_pos_embed(pos_embed: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Resize the patch part of a positional embedding to an h x w grid (DINO's rule).

    Bicubic, align_corners False, with scale factors ((h + 0.1) / g, (w + 0.1) / g)
    rather than a target size, g being the stored square grid side.

    Args:
        pos_embed: (1, 1 + g*g, D) cls position first, then the g x g grid row-major.
        h: target grid rows.
        w: target grid columns.

    Returns:
        (1, 1 + h*w, D).
    """
    n = pos_embed.shape[1] - 1
    dim = pos_embed.shape[2]
    g = math.isqrt(n)
    if g * g != n:
        raise ValueError(f"pos_embed has {n} patch positions, not a square grid")
    grid = pos_embed[:, 1:].reshape(1, g, g, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((h + 0.1) / g, (w + 0.1) / g), mode="bicubic")
    if grid.shape[-2:] != (h, w):
        raise RuntimeError(f"pos_embed resize gave {tuple(grid.shape[-2:])}, expected {(h, w)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, dim)
    return torch.cat((pos_embed[:, :1], grid), dim=1)


class VisionTransformer(nn.Module):
    """Pre-norm ViT with cls and mask tokens; state-dict keys as in DINO/INO.

    Args:
        img_size: side of the square image the positional embedding is built for.
        patch_size: patch side p.
        embed_dim: token width D.
        depth: number of blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width / D.
        drop_path_rate: stochastic depth of the last block (linear from 0 over blocks).
    """

    def __init__(
        self,
        img_size: int = 64,
        patch_size: int = 8,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if img_size % patch_size != 0:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.img_size = img_size
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.grid_size = img_size // patch_size

        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid_size**2, embed_dim))
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, drop_path=rate, norm_eps=1e-6) for rate in rates
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        for param in (self.pos_embed, self.cls_token, self.mask_token):
            nn.init.trunc_normal_(param, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def pos_embed_for(self, h: int, w: int, square: bool) -> torch.Tensor:
        """Positional embedding for an h x w patch grid: (1, 1 + h*w, D).

        Returned as is when h*w equals the stored grid size and the input image is square;
        otherwise resized with :func:`interpolate_pos_embed`.
        """
        if h * w == self.grid_size**2 and square:
            return self.pos_embed
        return interpolate_pos_embed(self.pos_embed, h, w)

    def prepare_tokens(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Patch-embed, replace masked patches by ``mask_token``, prepend cls, add positions.

        Args:
            x: (B, 3, H, W) images.
            mask: (B, h*w) or (B, h, w) bool, True where the patch is masked; or None.

        Returns:
            (B, 1 + h*w, D) tokens, h = H // p, w = W // p.
        """
        b, _, height, width = x.shape
        h, w = height // self.patch_size, width // self.patch_size
        tokens = self.patch_embed(x)  # (B, h*w, D)
        if mask is not None:
            if mask.dtype != torch.bool or mask.reshape(mask.shape[0], -1).shape != (b, h * w):
                raise ValueError(
                    f"mask must be bool (B, h*w) = ({b}, {h * w}), "
                    f"got {mask.dtype} {tuple(mask.shape)}"
                )
            masked = mask.reshape(b, h * w, 1)
            tokens = torch.where(masked, self.mask_token.to(tokens.dtype), tokens)
        tokens = torch.cat((self.cls_token.expand(b, -1, -1).to(tokens.dtype), tokens), dim=1)
        return tokens + self.pos_embed_for(h, w, square=height == width)

    def _run_blocks(
        self, x: torch.Tensor, mask: torch.Tensor | None, n_last: int
    ) -> list[torch.Tensor]:
        """Outputs of the last ``n_last`` blocks (before the final norm), earliest first."""
        if not 1 <= n_last <= self.depth:
            raise ValueError(f"n must lie in 1..{self.depth}, got {n_last}")
        tokens = self.prepare_tokens(x, mask)
        outputs = []
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i >= self.depth - n_last:
                outputs.append(tokens)
        return outputs

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """All tokens after the last block and the final norm.

        Args:
            x: (B, 3, H, W) images.
            mask: optional (B, h*w) bool patch mask (see :meth:`prepare_tokens`).

        Returns:
            (B, 1 + h*w, D); [:, 0] is the cls token, [:, 1:] the patch tokens row-major.
        """
        return self.norm(self._run_blocks(x, mask, 1)[0])

    def intermediate_layers(
        self, x: torch.Tensor, n: int = 1, mask: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """Outputs of the last n blocks, each through the final norm; [0] is the earliest.

        Args:
            x: (B, 3, H, W) images.
            n: how many of the last blocks to return (1..depth).
            mask: optional (B, h*w) bool patch mask.

        Returns:
            n tensors of shape (B, 1 + h*w, D).
        """
        return [self.norm(out) for out in self._run_blocks(x, mask, n)]

    def block_output(
        self, x: torch.Tensor, n_last: int, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``intermediate_layers(x, n_last)[0]`` running only blocks 0..depth-n_last.

        Args:
            x: (B, 3, H, W) images.
            n_last: 1 for the last block, 6 for block 7 of 12 (INO presets).
            mask: optional (B, h*w) bool patch mask.

        Returns:
            (B, 1 + h*w, D) normed tokens.
        """
        if not 1 <= n_last <= self.depth:
            raise ValueError(f"n_last must lie in 1..{self.depth}, got {n_last}")
        tokens = self.prepare_tokens(x, mask)
        for block in self.blocks[: self.depth - n_last + 1]:
            tokens = block(tokens)
        return self.norm(tokens)


def _build(arch: str, patch_size: int, img_size: int, **kwargs: Any) -> VisionTransformer:
    spec = ARCHS[arch]
    params: dict[str, Any] = {
        "embed_dim": spec.embed_dim,
        "depth": spec.depth,
        "num_heads": spec.num_heads,
    }
    params.update(kwargs)
    return VisionTransformer(img_size=img_size, patch_size=patch_size, **params)


def vit_tiny(patch_size: int = 8, img_size: int = 64, **kwargs: Any) -> VisionTransformer:
    """ViT-Ti: D 192, 12 blocks, 3 heads (kwargs override, e.g. ``depth=2`` in tests)."""
    return _build("vit_tiny", patch_size, img_size, **kwargs)


def vit_small(patch_size: int = 8, img_size: int = 64, **kwargs: Any) -> VisionTransformer:
    """ViT-S: D 384, 12 blocks, 6 heads (kwargs override)."""
    return _build("vit_small", patch_size, img_size, **kwargs)


def vit_base(patch_size: int = 8, img_size: int = 64, **kwargs: Any) -> VisionTransformer:
    """ViT-B: D 768, 12 blocks, 12 heads (kwargs override)."""
    return _build("vit_base", patch_size, img_size, **kwargs)


def build_vit(
    arch: str, patch_size: int, img_size: int, drop_path_rate: float = 0.0
) -> VisionTransformer:
    """Build a preset ViT, validating the user's choices.

    Raises:
        InovosError: unknown arch, patch size not 8/16, or img_size not a multiple of it.
    """
    if arch not in ARCHS:
        raise InovosError(f"unknown arch {arch!r}: choose one of {sorted(ARCHS)}")
    if patch_size not in PATCH_SIZES:
        raise InovosError(f"unsupported patch_size {patch_size}: choose one of {PATCH_SIZES}")
    if img_size <= 0 or img_size % patch_size != 0:
        raise InovosError(
            f"img_size {img_size} must be a positive multiple of patch_size {patch_size}"
        )
    return _build(arch, patch_size, img_size, drop_path_rate=drop_path_rate)
