"""The INO loss terms (L_out, L_mim, L_aff): pure functions and nn.Modules, no I/O, no config."""

from inovos.losses.aff_loss import aff_loss, affinity, gather_masked
from inovos.losses.centering import Centre
from inovos.losses.ino_loss import INOLoss, LossResult
from inovos.losses.mim_loss import mim_loss
from inovos.losses.out_loss import frame_pairs, out_loss, teacher_probs

__all__ = [
    "Centre",
    "INOLoss",
    "LossResult",
    "aff_loss",
    "affinity",
    "frame_pairs",
    "gather_masked",
    "mim_loss",
    "out_loss",
    "teacher_probs",
]
