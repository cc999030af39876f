"""The Vision Transformer backbone (DINO/INO and DINOv2 layouts) and its one builder."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from inovos.layers.block import Block
from inovos.layers.patch_embed import PatchEmbed
from inovos.models.spec import ViTSpec


def interpolate_pos_embed(
    pos_embed: torch.Tensor, h: int, w: int, offset: float = 0.1, antialias: bool = False
) -> torch.Tensor:
    """Resize the patch part of a positional embedding to an h x w grid (DINO/DINOv2 rules).

    Bicubic, align_corners False, computed in float32. With ``offset`` > 0 (DINO, INO,
    DINOv2 without registers) the resize uses scale factors ((h + offset) / g,
    (w + offset) / g) rather than a target size, g being the stored square grid side; with
    ``offset`` 0 (DINOv2 with registers) it uses the target size (h, w), antialiased when
    ``antialias``.

    Args:
        pos_embed: (1, 1 + g*g, D) cls position first, then the g x g grid row-major.
        h: target grid rows.
        w: target grid columns.
        offset: the scale-factor offset (0: resize to the target size).
        antialias: PyTorch's antialiased bicubic kernel.

    Returns:
        (1, 1 + h*w, D) in the dtype of ``pos_embed``.
    """
    n = pos_embed.shape[1] - 1
    dim = pos_embed.shape[2]
    g = math.isqrt(n)
    if g * g != n:
        raise ValueError(f"pos_embed has {n} patch positions, not a square grid")
    grid = pos_embed[:, 1:].float().reshape(1, g, g, dim).permute(0, 3, 1, 2)
    if offset:
        scale = ((h + offset) / g, (w + offset) / g)
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=antialias)
    else:
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=antialias)
    if grid.shape[-2:] != (h, w):
        raise RuntimeError(f"pos_embed resize gave {tuple(grid.shape[-2:])}, expected {(h, w)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, dim).to(pos_embed.dtype)
    return torch.cat((pos_embed[:, :1], grid), dim=1)


class VisionTransformer(nn.Module):
    """Pre-norm ViT with cls and mask tokens; state-dict keys as in DINO/INO or DINOv2.

    The DINOv2 family adds LayerScale gains (``blocks.i.ls1.gamma``, ``ls2.gamma``), a
    (1, D) mask token, the SwiGLU feed-forward of ViT-g (``mlp.w12``, ``mlp.w3``) and
    optional register tokens (``register_tokens``, (1, R, D)),
    inserted after the cls token once positions are added. Register tokens take part in
    attention but are left out of every output.

    Build it with :func:`build_backbone`.

    Args:
        spec: the architecture.
        drop_path_rate: stochastic depth of the last block (linear from 0 over blocks).
    """

    def __init__(self, spec: ViTSpec, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.spec = spec
        self.img_size = spec.img_size
        self.patch_size = spec.patch_size
        self.embed_dim = dim = spec.embed_dim
        self.depth = spec.depth
        self.num_heads = spec.num_heads
        self.mlp_ratio = spec.mlp_ratio
        self.n_registers = spec.n_registers
        self.grid_size = spec.grid_size

        self.patch_embed = PatchEmbed(spec.patch_size, 3, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        mask_shape = (1, dim) if spec.family == "dinov2" else (1, 1, dim)
        self.mask_token = nn.Parameter(torch.zeros(*mask_shape))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid_size**2, dim))
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, spec.n_registers, dim)) if spec.n_registers else None
        )
        rates = [drop_path_rate * i / max(spec.depth - 1, 1) for i in range(spec.depth)]
        layerscale = spec.family == "dinov2"
        self.blocks = nn.ModuleList(
            Block(dim, spec.num_heads, spec.mlp_ratio, rate, 1e-6, layerscale, spec.ffn)
            for rate in rates
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        for param in (self.pos_embed, self.cls_token, self.mask_token, self.register_tokens):
            if param is not None:
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
        otherwise resized with :func:`interpolate_pos_embed` by the family's rule.
        """
        if h * w == self.grid_size**2 and square:
            return self.pos_embed
        spec = self.spec
        return interpolate_pos_embed(self.pos_embed, h, w, spec.pos_offset, spec.pos_antialias)

    def prepare_tokens(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Patch-embed, replace masked patches by ``mask_token``, prepend cls, add positions.

        Register tokens (if any) are then inserted after the cls token.

        Args:
            x: (B, 3, H, W) images.
            mask: (B, h*w) or (B, h, w) bool, True where the patch is masked; or None.

        Returns:
            (B, 1 + R + h*w, D) tokens, h = H // p, w = W // p, R register tokens.
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
            mask_token = self.mask_token.reshape(1, 1, -1).to(tokens.dtype)
            tokens = torch.where(masked, mask_token, tokens)
        tokens = torch.cat((self.cls_token.expand(b, -1, -1).to(tokens.dtype), tokens), dim=1)
        tokens = tokens + self.pos_embed_for(h, w, square=height == width)
        if self.register_tokens is None:
            return tokens
        registers = self.register_tokens.expand(b, -1, -1).to(tokens.dtype)
        return torch.cat((tokens[:, :1], registers, tokens[:, 1:]), dim=1)

    def _drop_registers(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 1 + R + N, D) -> (B, 1 + N, D): cls and patch tokens."""
        if not self.n_registers:
            return tokens
        return torch.cat((tokens[:, :1], tokens[:, 1 + self.n_registers :]), dim=1)

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
                outputs.append(self._drop_registers(tokens))
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
        return self.norm(self._drop_registers(tokens))


def build_backbone(spec: ViTSpec, drop_path_rate: float = 0.0) -> VisionTransformer:
    """The one way to build a backbone: a freshly initialised ViT of architecture ``spec``.

    Training builds its student and teacher with it, every loader rebuilds the saved
    architecture with it and then loads the weights.

    Args:
        spec: the architecture (see :func:`inovos.models.spec.arch_spec`,
            :func:`inovos.models.spec.named_spec`).
        drop_path_rate: stochastic depth of the last block (0 for inference and the teacher).
    """
    return VisionTransformer(spec, drop_path_rate)


__all__ = ["VisionTransformer", "build_backbone", "interpolate_pos_embed"]
