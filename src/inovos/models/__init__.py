"""ViT backbones: architecture specs, the one builder, the one loader, saving."""

from inovos.models.checkpoints import CheckpointInfo, load_backbone, random_backbone, save_weights
from inovos.models.spec import (
    ARCHS,
    PATCH_SIZES,
    ViTSpec,
    arch_spec,
    named_spec,
    spec_from_model_config,
)
from inovos.models.vit import VisionTransformer, build_backbone, interpolate_pos_embed

__all__ = [
    "ARCHS",
    "PATCH_SIZES",
    "CheckpointInfo",
    "ViTSpec",
    "VisionTransformer",
    "arch_spec",
    "build_backbone",
    "interpolate_pos_embed",
    "load_backbone",
    "named_spec",
    "random_backbone",
    "save_weights",
    "spec_from_model_config",
]
