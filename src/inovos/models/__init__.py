"""ViT backbone, size presets, checkpoint loading and saving."""

from inovos.models.checkpoints import CheckpointInfo, load_backbone, random_backbone, save_weights
from inovos.models.vit import (
    ARCHS,
    PATCH_SIZES,
    VisionTransformer,
    build_vit,
    interpolate_pos_embed,
    vit_base,
    vit_small,
    vit_tiny,
)

__all__ = [
    "ARCHS",
    "PATCH_SIZES",
    "CheckpointInfo",
    "VisionTransformer",
    "build_vit",
    "interpolate_pos_embed",
    "load_backbone",
    "random_backbone",
    "save_weights",
    "vit_base",
    "vit_small",
    "vit_tiny",
]
