"""Turn a ``--model`` argument into a feature backbone for propagation, and describe it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from inovos.errors import InovosError
from inovos.models.checkpoints import load_backbone, random_backbone
from inovos.models.download import fetch_weights
from inovos.models.pixels import PixelFeatures
from inovos.models.registry import REGISTRY, cache_dir
from inovos.models.sha import file_sha256
from inovos.models.spec import ViTSpec
from inovos.models.vit import VisionTransformer
from inovos.propagation.features import FeatureModel
from inovos.segment import MODEL_HELP

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """Where a feature model came from: what a run record or a feature cache keys on.

    Attributes:
        name: the source as given ("pixels", "random:vit_small", a path, "dino_vits16").
        kind: "pixels", "random", "file" or "named" (a registered public release).
        path: the weights file read (kinds "file" and "named"), else None.
        sha256: hex digest of that file, else None (random models are named by arch + seed).
        seed: initialisation seed of a random model, else None.
        spec: the architecture built (None for pixels).
        which: network taken from a student/teacher checkpoint, or "weights".
    """

    name: str
    kind: str
    path: str | None = None
    sha256: str | None = None
    seed: int | None = None
    spec: ViTSpec | None = None
    which: str = "weights"


def source_file(source: str) -> Path | None:
    """The weights file a ``--model`` source reads: the path itself, or for a registered
    name its file in the cache (present once downloaded); None for random:/pixels."""
    if source == "pixels" or source.startswith("random:"):
        return None
    path = Path(source)
    entry = None if path.exists() else REGISTRY.get(source)
    return path if entry is None else cache_dir() / entry.filename


def _load_file(
    source: str, patch_size: int | None, which: str
) -> tuple[VisionTransformer, ModelSource]:
    """A checkpoint file, or a registered public release fetched into the cache."""
    path = Path(source)
    entry = None if path.exists() else REGISTRY.get(source)
    if entry is not None:
        path, digest = fetch_weights(entry)
        vit, info = load_backbone(path, arch=entry.arch, patch_size=entry.patch_size, which=which)
    elif path.exists():
        vit, info = load_backbone(path, patch_size=patch_size, which=which)
        digest = file_sha256(path)
    else:
        raise InovosError(f"{path}: model checkpoint not found ({MODEL_HELP})")
    logger.info(
        "%s: %s checkpoint, %s/%d, %s weights",
        path,
        info.format,
        info.arch,
        vit.patch_size,
        info.which,
    )
    described = ModelSource(
        name=source,
        kind="file" if entry is None else "named",
        path=os.fspath(path),
        sha256=digest,
        spec=vit.spec,
        which=info.which,
    )
    return vit, described


def load_model_and_source(
    source: str,
    *,
    patch_size: int | None = None,
    which: str = "auto",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[FeatureModel, ModelSource]:
    """Build the backbone named by ``source`` (see ``MODEL_HELP``), eval mode, on ``device``.

    Returns:
        (model, where it came from).

    Raises:
        InovosError: unknown source, missing or unreadable file, bad architecture.
    """
    model: nn.Module
    if source == "pixels":
        model = PixelFeatures(patch_size or 8)
        described = ModelSource(name=source, kind="pixels")
    elif source.startswith("random:"):
        vit = random_backbone(source.split(":", 1)[1], patch_size, seed=seed)
        logger.info("random %s/%d backbone, seed %d", source[7:], vit.patch_size, seed)
        model = vit
        described = ModelSource(name=source, kind="random", seed=seed, spec=vit.spec)
    else:
        vit, described = _load_file(source, patch_size, which)
        model = vit
    return cast(FeatureModel, model.eval().to(device)), described


def load_feature_model(
    source: str,
    *,
    patch_size: int | None = None,
    which: str = "auto",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> FeatureModel:
    """The model of :func:`load_model_and_source` without its description."""
    return load_model_and_source(
        source, patch_size=patch_size, which=which, seed=seed, device=device
    )[0]


def preferred_layer(model: FeatureModel) -> int | None:
    """The feature layer a model family is read at when the user names none, or None.

    DINOv2 backbones: 1, the last block with the final norm (DINOv2's
    ``x_norm_patchtokens``, the features its authors and later work evaluate for dense
    tasks). Other models: None, the preset's layer (INO's block 7 of 12).
    """
    spec = getattr(model, "spec", None)
    return 1 if isinstance(spec, ViTSpec) and spec.family == "dinov2" else None


def check_feature_layer(model: FeatureModel, n_last: int) -> None:
    """Refuse a feature layer deeper than the model (``n_last`` counts blocks from the end).

    Raises:
        InovosError: ``n_last`` > the model's number of blocks.
    """
    depth = getattr(model, "depth", None)
    if isinstance(depth, int) and not 1 <= n_last <= depth:
        raise InovosError(
            f"the model has {depth} blocks; the feature layer intermediate_layers(n={n_last}) "
            f"needs >= {n_last}; pass --layer N with 1 <= N <= {depth}"
        )


__all__ = [
    "ModelSource",
    "check_feature_layer",
    "file_sha256",
    "load_feature_model",
    "load_model_and_source",
    "preferred_layer",
    "source_file",
]
