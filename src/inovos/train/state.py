"""The objects one optimiser step updates, shared by the step and the checkpoint code."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inovos.losses import INOLoss
from inovos.train.model import StudentTeacher


@dataclass
class TrainState:
    """Student and teacher, AdamW, the loss (its centres) and the fp16 scaler.

    The step updates these in place; a checkpoint saves and restores exactly these
    (plus the position, RNG states and config).

    Attributes:
        model: student and teacher networks.
        optimizer: AdamW over the student's parameter groups.
        loss_fn: the INO loss (owns the cls and patch centres).
        scaler: the fp16 gradient scaler, or None.
    """

    model: StudentTeacher
    optimizer: torch.optim.Optimizer
    loss_fn: INOLoss
    scaler: torch.amp.GradScaler | None = None


__all__ = ["TrainState"]
