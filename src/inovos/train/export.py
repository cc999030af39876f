"""Export a training checkpoint's backbone as the project's weights file (safetensors).

The backbone is built by the same loader propagation uses (the architecture saved in
the checkpoint's config), so the exported file gives the same features as the checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from inovos.errors import InovosError
from inovos.models.checkpoints import load_backbone, save_weights
from inovos.models.readers import TRAIN_FORMAT

logger = logging.getLogger(__name__)

WHICH = ("student", "teacher")


def export_backbone(checkpoint: str | Path, out: str | Path, which: str = "student") -> Path:
    """Write ``which``'s ViT of a training checkpoint to ``out`` with ``save_weights``.

    Raises:
        InovosError: unknown ``which``, or a file that is not a project training checkpoint.
    """
    if which not in WHICH:
        raise InovosError(f"--which must be one of {WHICH}, got {which!r}")
    model, info = load_backbone(checkpoint, which=which)
    if info.format != TRAIN_FORMAT:
        raise InovosError(
            f"{checkpoint} is not an inovos training checkpoint (it is a {info.format} file)"
        )
    extra: dict[str, object] = {
        "source": TRAIN_FORMAT,
        "which": which,
        "epoch": int(info.meta.get("epoch", -1)),
        "iteration": int(info.meta.get("iteration", -1)),
        "checkpoint": str(checkpoint),
    }
    with torch.no_grad():
        save_weights(model, out, extra)
    logger.info("exported the %s backbone of %s to %s", which, checkpoint, out)
    return Path(out)


__all__ = ["WHICH", "export_backbone"]
