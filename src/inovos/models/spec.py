"""The architecture of a ViT backbone as data: size presets, named models, validation.

A :class:`ViTSpec` is everything needed to build a backbone whose state dict has the
same keys and shapes as the weights it describes. Training builds its networks from
the configured spec, checkpoints and weights files store it (or the config it comes
from), and every loader rebuilds the model from the stored spec.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

from inovos.errors import InovosError

Family = Literal["dino", "dinov2"]
FAMILIES: tuple[str, ...] = ("dino", "dinov2")
PATCH_SIZES = (8, 16)  # DINO/INO family (training and DINO releases)
DINOV2_PATCH = 14
DINOV2_IMG_SIZE = 518  # DINOv2 builds every model with a 37 x 37 grid of 14-pixel patches


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
    "vit_large": ArchSpec(1024, 24, 16),
    "vit_giant2": ArchSpec(1536, 40, 24),  # DINOv2's ViT-g (SwiGLU feed-forward)
}
TRAIN_ARCHS = ("vit_tiny", "vit_small", "vit_base")  # sizes the INO/DINO layout comes in
_DINOV2_SIZES = {"s": "vit_small", "b": "vit_base", "l": "vit_large", "g": "vit_giant2"}
_DINOV2_NAME = re.compile(r"^dinov2_vit([sblg])14(?:_reg(\d+))?$")
FFNS = ("mlp", "swiglu")


@dataclass(frozen=True)
class ViTSpec:
    """The architecture of one ViT backbone.

    Attributes:
        embed_dim: token width D.
        depth: number of blocks.
        num_heads: attention heads per block (divides D).
        patch_size: patch side p in pixels.
        img_size: image side the stored positional-embedding grid is built for.
        mlp_ratio: MLP hidden width / D.
        family: "dino" (DINO/INO layout: mask token (1, 1, D), no LayerScale) or
            "dinov2" (LayerScale ``ls1``/``ls2``, mask token (1, D)).
        n_registers: register tokens after the cls token (DINOv2 "reg" models).
        arch: size preset name for display ("custom" when none fits).
        ffn: feed-forward block: "mlp" (GELU) or "swiglu" (DINOv2 ViT-g/14).
    """

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    img_size: int
    mlp_ratio: float = 4.0
    family: Family = "dino"
    n_registers: int = 0
    arch: str = "custom"
    ffn: str = "mlp"

    def __post_init__(self) -> None:
        problems = [
            (self.embed_dim >= 1, f"embed_dim must be >= 1, got {self.embed_dim}"),
            (self.depth >= 1, f"depth must be >= 1, got {self.depth}"),
            (self.num_heads >= 1, f"num_heads must be >= 1, got {self.num_heads}"),
            (self.patch_size >= 1, f"patch_size must be >= 1, got {self.patch_size}"),
            (self.mlp_ratio > 0, f"mlp_ratio must be > 0, got {self.mlp_ratio}"),
            (self.family in FAMILIES, f"family must be one of {FAMILIES}, got {self.family!r}"),
            (self.n_registers >= 0, f"n_registers must be >= 0, got {self.n_registers}"),
            (self.ffn in FFNS, f"ffn must be one of {FFNS}, got {self.ffn!r}"),
            (
                self.family == "dinov2" or self.ffn == "mlp",
                "the SwiGLU feed-forward exists only in the dinov2 family",
            ),
            (
                self.family == "dinov2" or self.n_registers == 0,
                "register tokens exist only in the dinov2 family",
            ),
            (
                self.embed_dim % max(self.num_heads, 1) == 0,
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}",
            ),
            (
                self.img_size >= self.patch_size and self.img_size % max(self.patch_size, 1) == 0,
                f"img_size {self.img_size} must be a positive multiple of patch_size "
                f"{self.patch_size}",
            ),
        ]
        for ok, message in problems:
            if not ok:
                raise InovosError(f"ViT architecture: {message}")

    @property
    def grid_size(self) -> int:
        """Side of the stored positional-embedding grid: img_size // patch_size."""
        return self.img_size // self.patch_size

    @property
    def pos_offset(self) -> float:
        """Offset of the positional-embedding resize (0 means: resize to a target size).

        DINO, INO and DINOv2 without registers use scale factors (n + 0.1) / g; DINOv2 with
        registers uses the target size with antialiasing (``pos_antialias``).
        """
        return 0.0 if self.n_registers else 0.1

    @property
    def pos_antialias(self) -> bool:
        """Antialiased bicubic resize of the positional embedding (DINOv2 with registers)."""
        return self.n_registers > 0

    def with_img_size(self, img_size: int) -> ViTSpec:
        """The same architecture with its positional grid built for ``img_size``."""
        return dataclasses.replace(self, img_size=img_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a file's metadata (inverse: :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViTSpec:
        """Build from :meth:`to_dict` output; unknown keys are an error.

        Raises:
            InovosError: missing or unknown fields, or invalid values.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InovosError(f"ViT architecture: unknown fields {unknown}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InovosError(f"ViT architecture: {exc}") from None


def arch_for_embed_dim(embed_dim: int) -> str | None:
    """The preset name whose width is ``embed_dim``, or None."""
    for name, spec in ARCHS.items():
        if spec.embed_dim == embed_dim:
            return name
    return None


def arch_spec(
    arch: str,
    patch_size: int,
    img_size: int,
    *,
    embed_dim: int = 0,
    depth: int = 0,
    num_heads: int = 0,
) -> ViTSpec:
    """A DINO/INO-layout ViT of a size preset, with optional overrides (0 keeps the preset).

    The spec keeps the preset's name unless the width is overridden ("custom").

    Raises:
        InovosError: unknown arch, patch size not 8/16, img_size not a multiple of it, or
            a width not divisible by the heads.
    """
    if arch not in TRAIN_ARCHS:
        raise InovosError(f"unknown arch {arch!r}: choose one of {list(TRAIN_ARCHS)}")
    if patch_size not in PATCH_SIZES:
        raise InovosError(f"unsupported patch_size {patch_size}: choose one of {PATCH_SIZES}")
    if img_size <= 0 or img_size % patch_size != 0:
        raise InovosError(
            f"img_size {img_size} must be a positive multiple of patch_size {patch_size}"
        )
    preset = ARCHS[arch]
    width = embed_dim or preset.embed_dim
    return ViTSpec(
        embed_dim=width,
        depth=depth or preset.depth,
        num_heads=num_heads or preset.num_heads,
        patch_size=patch_size,
        img_size=img_size,
        arch=arch if width == preset.embed_dim else "custom",
    )


def dinov2_spec(size: str, n_registers: int = 0) -> ViTSpec:
    """DINOv2 ViT-S/14, B/14, L/14 or g/14 (``size`` "s", "b", "l", "g"), as released.

    All have a 518-pixel grid; g/14 has the SwiGLU feed-forward.
    """
    arch = _DINOV2_SIZES[size]
    preset = ARCHS[arch]
    return ViTSpec(
        embed_dim=preset.embed_dim,
        depth=preset.depth,
        num_heads=preset.num_heads,
        patch_size=DINOV2_PATCH,
        img_size=DINOV2_IMG_SIZE,
        family="dinov2",
        n_registers=n_registers,
        arch=arch,
        ffn="swiglu" if size == "g" else "mlp",
    )


def named_spec(name: str, patch_size: int | None = None, img_size: int = 64) -> ViTSpec:
    """The architecture called ``name``: a preset (``vit_small``) or a DINOv2 model name.

    Args:
        name: ``vit_tiny``/``vit_small``/``vit_base`` (DINO/INO layout) or
            ``dinov2_vit{s,b,l,g}14`` with an optional ``_reg4`` suffix.
        patch_size: patch side for the DINO/INO presets (default 8); DINOv2 models have 14.
        img_size: positional grid of the DINO/INO presets (DINOv2: 518, as released).

    Raises:
        InovosError: unknown name, or a patch size the architecture does not have.
    """
    match = _DINOV2_NAME.match(name)
    if match:
        if patch_size not in (None, DINOV2_PATCH):
            raise InovosError(f"{name} has patch size {DINOV2_PATCH}, not {patch_size}")
        return dinov2_spec(match.group(1), int(match.group(2) or 0))
    if name not in TRAIN_ARCHS:
        known = [*TRAIN_ARCHS, *(f"dinov2_vit{s}14" for s in _DINOV2_SIZES), "..._reg4"]
        raise InovosError(f"unknown architecture {name!r}: choose one of {known}")
    return arch_spec(name, patch_size or 8, img_size)


def spec_from_model_config(cfg: Any) -> ViTSpec:
    """The backbone a training config describes (``model.*`` fields of the config).

    Args:
        cfg: an :class:`inovos.config.ModelConfig` (arch, patch_size, img_size and the
            embed_dim/depth/num_heads overrides, 0 keeping the preset).
    """
    try:
        return arch_spec(
            cfg.arch,
            cfg.patch_size,
            cfg.img_size,
            embed_dim=cfg.embed_dim,
            depth=cfg.depth,
            num_heads=cfg.num_heads,
        )
    except InovosError as exc:
        raise InovosError(f"model config: {exc}") from None


__all__ = [
    "ARCHS",
    "DINOV2_IMG_SIZE",
    "DINOV2_PATCH",
    "FAMILIES",
    "FFNS",
    "PATCH_SIZES",
    "TRAIN_ARCHS",
    "ArchSpec",
    "ViTSpec",
    "arch_for_embed_dim",
    "arch_spec",
    "dinov2_spec",
    "named_spec",
    "spec_from_model_config",
]
