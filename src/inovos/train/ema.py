"""EMA teacher: a frozen copy of the student updated after each optimiser step."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip DistributedDataParallel/DataParallel (``.module``) and torch.compile (``._orig_mod``)."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


@torch.no_grad()
def update_teacher(student: nn.Module, teacher: nn.Module, momentum: float) -> None:
    """theta_t <- m * theta_t + (1 - m) * theta_s over ALL parameters, matched by name.

    Frozen student parameters (e.g. the weight-norm gain) and ``mask_token``
    are included. Wrappers (DDP, torch.compile) around either module are
    stripped first.

    Args:
        student: the student (possibly wrapped).
        teacher: the teacher, with the same parameter names.
        momentum: m in [0, 1]; 1 leaves the teacher unchanged.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must lie in [0, 1], got {momentum}")
    s_params = dict(unwrap_model(student).named_parameters())
    t_params = dict(unwrap_model(teacher).named_parameters())
    if s_params.keys() != t_params.keys():
        only_s = sorted(s_params.keys() - t_params.keys())[:5]
        only_t = sorted(t_params.keys() - s_params.keys())[:5]
        raise ValueError(
            f"student/teacher parameters differ: student only {only_s}, teacher only {only_t}"
        )
    names = list(t_params)
    teacher_list: list[Tensor] = [t_params[n] for n in names]
    student_list: list[Tensor] = [s_params[n].detach() for n in names]
    torch._foreach_mul_(teacher_list, momentum)
    torch._foreach_add_(teacher_list, student_list, alpha=1.0 - momentum)
