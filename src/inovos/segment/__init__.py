"""Segment whole videos and data sets: readers -> features -> propagation -> files."""

MODEL_HELP = (
    "feature source: a checkpoint file (INO or DINO training checkpoint, DINO backbone "
    "release, inovos .safetensors weights), 'random:ARCH' for a seeded randomly "
    "initialised backbone (e.g. random:vit_small), or 'pixels' for raw patch pixels"
)
