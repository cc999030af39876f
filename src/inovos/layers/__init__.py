"""Torch-only building blocks: attention, MLP, drop path, patch embedding, block, LayerScale, DINO head."""

from inovos.layers.attention import Attention
from inovos.layers.block import Block
from inovos.layers.dino_head import DINOHead, WeightNormLinear
from inovos.layers.drop_path import DropPath, drop_path
from inovos.layers.layer_scale import LayerScale
from inovos.layers.mlp import Mlp
from inovos.layers.patch_embed import PatchEmbed
from inovos.layers.swiglu import SwiGLUFFN

__all__ = [
    "Attention",
    "Block",
    "DINOHead",
    "DropPath",
    "LayerScale",
    "Mlp",
    "PatchEmbed",
    "SwiGLUFFN",
    "WeightNormLinear",
    "drop_path",
]
