"""Segment whole videos and data sets: readers -> features -> propagation -> files."""

MODEL_HELP = (
    "feature source: a checkpoint file (INO or DINO training checkpoint, DINO or DINOv2 "
    "backbone release, inovos .safetensors weights), 'random:ARCH' for a seeded randomly "
    "initialised backbone (e.g. random:vit_small, random:dinov2_vits14_reg4), 'pixels' "
    "for raw patch pixels, or a public release by name, downloaded once into the cache: "
    "dino_vits16, dino_vits8, dino_vitb16, dino_vitb8, dinov2_vit{s,b,l,g}14[_reg4]"
)
