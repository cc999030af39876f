"""Export a training checkpoint's backbone as the project's weights file (safetensors)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from inovos.config import config_from_dict
from inovos.errors import InovosError
from inovos.models.checkpoints import save_weights
from inovos.models.vit import VisionTransformer
from inovos.train.checkpoint import load_checkpoint
from inovos.train.model import build_backbone, from_compat

logger = logging.getLogger(__name__)

WHICH = ("student", "teacher")
_BACKBONE = "backbone."


def backbone_from_checkpoint(
    state: dict, which: str = "student"
) -> tuple[VisionTransformer, dict[str, object]]:
    """The student's or teacher's ViT (eval mode) from a loaded training checkpoint.

    Returns:
        (model, extra): extra describes where the weights came from.

    Raises:
        InovosError: unknown ``which`` or weights that do not fit the stored config.
    """
    if which not in WHICH:
        raise InovosError(f"--which must be one of {WHICH}, got {which!r}")
    cfg = config_from_dict(state["config"]).model
    model = build_backbone(
        cfg.arch,
        cfg.patch_size,
        cfg.img_size,
        0.0,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
    )
    weights = {
        k[len(_BACKBONE) :]: v
        for k, v in from_compat(state[which]).items()
        if k.startswith(_BACKBONE)
    }
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise InovosError(f"checkpoint {which} weights do not fit its config: {exc}") from exc
    extra: dict[str, object] = {
        "source": "inovos-train",
        "which": which,
        "epoch": int(state["epoch"]),
        "iteration": int(state["iteration"]),
    }
    return model.eval(), extra


def export_backbone(checkpoint: str | Path, out: str | Path, which: str = "student") -> Path:
    """Write ``which``'s ViT of a training checkpoint to ``out`` with ``save_weights``."""
    state = load_checkpoint(checkpoint, map_location="cpu")
    model, extra = backbone_from_checkpoint(state, which)
    extra["checkpoint"] = str(checkpoint)
    with torch.no_grad():
        save_weights(model, out, extra)
    logger.info("exported the %s backbone of %s to %s", which, checkpoint, out)
    return Path(out)


__all__ = ["WHICH", "backbone_from_checkpoint", "export_backbone"]
