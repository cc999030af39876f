"""Turn a ``--model`` argument into a feature backbone for propagation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import torch
from torch import nn

from inovos.errors import InovosError
from inovos.models.checkpoints import load_backbone, random_backbone
from inovos.models.pixels import PixelFeatures
from inovos.propagation.features import FeatureModel
from inovos.segment import MODEL_HELP

logger = logging.getLogger(__name__)


def load_feature_model(
    source: str,
    *,
    patch_size: int | None = None,
    which: str = "auto",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> FeatureModel:
    """Build the backbone named by ``source`` (see ``MODEL_HELP``), in eval mode on ``device``."""
    if source == "pixels":
        model: nn.Module = PixelFeatures(patch_size or 8)
    elif source.startswith("random:"):
        model = random_backbone(source.split(":", 1)[1], patch_size or 8, seed=seed)
        logger.info("random %s/%d backbone, seed %d", source[7:], model.patch_size, seed)
    else:
        path = Path(source)
        if not path.exists():
            raise InovosError(f"{path}: model checkpoint not found ({MODEL_HELP})")
        model, info = load_backbone(path, patch_size=patch_size, which=which)
        logger.info(
            "%s: %s checkpoint, %s/%d, %s weights",
            path,
            info.format,
            info.arch,
            info.patch_size,
            info.which,
        )
    return cast(FeatureModel, model.eval().to(device))
