"""One optimiser step (:class:`TrainStep`) and the precision helpers.

One step, for a batch of B clips of T frames with L local crops per frame:
teacher(globals, unmasked) and student(globals with the patch mask, locals) in
one student call; INOLoss; non-finite check (all ranks); the loss's new
centres stored (a non-finite step changes nothing); backward (with the
fp16 gradient scaler when used); per-parameter clipping; last-layer freezing
in the first epoch(s); AdamW with the iteration's lr and weight decay; EMA of
the teacher with the iteration's momentum. Forward and EMA live in
:mod:`inovos.train.model`; backward lives here.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from inovos.errors import InovosError
from inovos.losses import INOLoss, LossResult
from inovos.train.distributed import all_reduce_flag
from inovos.train.model import NetOutputs, StudentTeacher
from inovos.train.optim import (
    apply_schedules,
    cancel_last_layer_gradients,
    clip_gradients_per_parameter,
)
from inovos.train.schedules import Schedules
from inovos.train.state import TrainState

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def resolve_precision(preference: str, device: torch.device) -> str:
    """``auto``: bf16 on CUDA with bf16 support, fp16 on other CUDA, fp32 on CPU.

    Raises:
        InovosError: unknown choice, or fp16 asked for on CPU.
    """
    if preference not in PRECISIONS:
        raise InovosError(f"optim.precision must be one of {PRECISIONS}, got {preference!r}")
    if preference == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if preference == "fp16" and device.type != "cuda":
        raise InovosError("optim.precision=fp16 needs a CUDA device (use fp32 or bf16 on CPU)")
    return preference


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for bf16/fp16, a null context for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class ViewBatch:
    """A batch of views in the frame-major layout of :mod:`inovos.train.model`.

    Attributes:
        globals_: (T*B, 3, H, W) global crops, row t*B + b.
        locals_: (T*L*B, 3, h, w) local crops, row (t*L + l)*B + b.
        clips: B, frames: T, n_local: L.
    """

    globals_: Tensor
    locals_: Tensor
    clips: int
    frames: int
    n_local: int

    @classmethod
    def from_views(cls, globals_: Tensor, locals_: Tensor) -> ViewBatch:
        """From the data pipeline's layout (frame-major already).

        Args:
            globals_: (T, B, 3, H, W).
            locals_: (T, L, B, 3, h, w) (L may be 0).
        """
        t, b = globals_.shape[:2]
        n_local = locals_.shape[1]
        return cls(globals_.flatten(0, 1), locals_.flatten(0, 2), b, t, n_local)


@dataclass
class StepResult:
    """Detached values of one step (floats for logging)."""

    values: dict[str, float]


class TrainStep:
    """Runs optimiser steps; holds references only (the caller owns every object).

    Args:
        state: student and teacher, AdamW, the INO loss (owns the centres), fp16 scaler.
        student_fwd: the student as called for the forward (its DDP wrapper when distributed).
        schedules: per-iteration lr, wd, momentum, teacher temperature.
        precision: "bf16", "fp16" or "fp32" (resolved).
        device: where the step runs.
        clip_grad: per-parameter gradient norm cap (0 disables clipping).
        freeze_last_layer: epochs during which the head's last layer does not move.
        grad_norms_every: compute the per-term gradient norms (:meth:`term_grad_norms`)
            on every N-th step (the logged ones; 0: never). They cost about 6% of a
            tiny-cpu step.
    """

    def __init__(
        self,
        state: TrainState,
        student_fwd: nn.Module,
        schedules: Schedules,
        precision: str,
        device: torch.device,
        clip_grad: float,
        freeze_last_layer: int,
        grad_norms_every: int = 1,
    ) -> None:
        self.state = state
        self.student_fwd = student_fwd
        self.schedules = schedules
        self.precision = precision
        self.device = device
        self.clip_grad = clip_grad
        self.freeze_last_layer = freeze_last_layer
        self.grad_norms_every = grad_norms_every

    @property
    def model(self) -> StudentTeacher:
        """Student and teacher (``state.model``)."""
        return self.state.model

    @property
    def loss_fn(self) -> INOLoss:
        """The INO loss (``state.loss_fn``)."""
        return self.state.loss_fn

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """AdamW (``state.optimizer``)."""
        return self.state.optimizer

    @property
    def scaler(self) -> torch.amp.GradScaler | None:
        """The fp16 gradient scaler (``state.scaler``), or None."""
        return self.state.scaler

    def forward(self, batch: ViewBatch, mask: Tensor | None) -> tuple[NetOutputs, NetOutputs]:
        """Teacher and student outputs under autocast.

        Args:
            batch: views on the device.
            mask: (T*B, N) bool or None.

        Returns:
            (teacher, student) NetOutputs.
        """
        with autocast_context(self.precision, self.device):
            teacher = self.model.teacher_forward(batch.globals_)
            if mask is None:  # an all-False mask keeps mask_token in the graph (static for DDP)
                n = teacher.patch.shape[1]
                mask = torch.zeros(batch.globals_.shape[0], n, dtype=torch.bool, device=self.device)
            student = self.student_fwd(batch.globals_, mask, batch.locals_)
        return teacher, student

    def compute_loss(
        self,
        batch: ViewBatch,
        teacher: NetOutputs,
        student: NetOutputs,
        mask: Tensor | None,
        teacher_temp: float,
    ) -> LossResult:
        """INOLoss in float32 outside autocast, on (T, B, ...) views; mask: (T, B, N) or None.

        The centres are not committed here (see :meth:`__call__`).
        """
        t, b, n_local = batch.frames, batch.clips, batch.n_local
        k = teacher.cls.shape[-1]
        n = teacher.patch.shape[1]
        local_cls = None
        if student.local_cls is not None:
            local_cls = student.local_cls.float().view(t, n_local, b, k)
        elif n_local == 0:
            local_cls = student.cls.new_zeros(t, 0, b, k, dtype=torch.float32)
        return self.loss_fn.compute(
            teacher_cls=teacher.cls.float().view(t, b, k),
            student_cls=student.cls.float().view(t, b, k),
            student_local_cls=local_cls,
            teacher_patch=teacher.patch.float().view(t, b, n, k),
            student_patch=student.patch.float().view(t, b, n, k),
            mask=mask,
            teacher_temp=teacher_temp,
        )

    def __call__(
        self, batch: ViewBatch, mask: Tensor | None, iteration: int, epoch: int
    ) -> StepResult:
        """One optimiser step at global ``iteration`` of ``epoch``.

        Args:
            batch: views on the device.
            mask: (T, B, N) bool patch mask (the same count M in every row), or None.
            iteration: global step index into the schedules.
            epoch: current epoch (last-layer freezing).

        Raises:
            InovosError: the loss is not finite on some rank (nothing was stepped).
        """
        apply_schedules(self.optimizer, iteration, self.schedules.lr, self.schedules.wd)
        teacher_temp = float(self.schedules.teacher_temp[iteration])
        teacher, student = self.forward(batch, None if mask is None else mask.flatten(0, 1))
        result = self.compute_loss(batch, teacher, student, mask, teacher_temp)
        loss, parts = result.total, result.parts
        if not loss.requires_grad:  # e.g. w_out=0 and no mask this iteration: a zero gradient
            loss = loss + 0.0 * student.cls.float().sum()
        names = list(parts)
        numbers = torch.stack([parts[k].float() for k in names]).tolist()  # one host sync
        values = dict(zip(names, numbers, strict=True))
        if all_reduce_flag(not math.isfinite(values["loss"]), self.device):
            shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
            raise InovosError(
                f"non-finite loss at epoch {epoch}, iteration {iteration} ({shown}); "
                "stopping, the last saved checkpoint is kept"
            )
        self.loss_fn.commit(result)  # only a finite step moves the centres
        every = self.grad_norms_every
        if every and (iteration + 1) % every == 0:  # the steps the logs record
            values.update(self.term_grad_norms(result, student))
        grad_norm = self.backward_and_step(loss, epoch)
        momentum = float(self.schedules.momentum[iteration])
        self.model.update_teacher(momentum)
        values.update(
            lr=float(self.schedules.lr[iteration]),
            wd=float(self.schedules.wd[iteration]),
            momentum=momentum,
            teacher_temp=teacher_temp,
            grad_norm=grad_norm,
            masked=float(mask is not None),
        )
        if self.scaler is not None:
            values["loss_scale"] = float(self.scaler.get_scale())
        return StepResult(values)

    def term_grad_norms(self, result: LossResult, student: NetOutputs) -> dict[str, float]:
        """L2 norm of each weighted term's gradient w.r.t. the student's head outputs.

        ``grad_norm_out`` etc.: how hard each term pulls on the student's outputs (cls,
        local cls and patch outputs together). One partial backward per term through
        the loss only (not the network), so about the cost of the loss itself.
        """
        outputs = [x for x in (student.cls, student.local_cls, student.patch) if x is not None]
        outputs = [x for x in outputs if x.requires_grad]
        weights = {"out": self.loss_fn.w_out, "mim": self.loss_fn.w_mim, "aff": self.loss_fn.w_aff}
        norms: dict[str, Tensor] = {}
        for name, term in result.terms.items():
            norm = term.new_zeros((), dtype=torch.float32)
            if term.requires_grad and outputs:
                grads = torch.autograd.grad(
                    weights[name] * term, outputs, retain_graph=True, allow_unused=True
                )
                squares = [g.float().pow(2).sum() for g in grads if g is not None]
                norm = torch.stack(squares).sum().sqrt() if squares else norm
            norms[f"grad_norm_{name}"] = norm
        if not norms:
            return {}
        numbers = torch.stack(list(norms.values())).tolist()  # one host sync
        return dict(zip(norms, numbers, strict=True))

    def backward_and_step(self, loss: Tensor, epoch: int) -> float:
        """Backward, clip, freeze the last layer, optimiser step; returns the pre-clip grad norm."""
        student = self.model.student
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.clip_grad > 0:
            norms = clip_gradients_per_parameter(student, self.clip_grad)
        else:
            grads = [
                p.grad.detach().float().norm() for p in student.parameters() if p.grad is not None
            ]
            norms = torch.stack(grads) if grads else torch.zeros(0)
        grad_norm = float(norms.float().norm()) if norms.numel() else 0.0
        cancel_last_layer_gradients(student, epoch, self.freeze_last_layer)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return grad_norm


__all__ = [
    "PRECISIONS",
    "StepResult",
    "TrainStep",
    "ViewBatch",
    "autocast_context",
    "resolve_precision",
]
