"""AdamW parameter groups, per-parameter gradient clipping and last-layer freezing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from inovos.train.ema import unwrap_model


def is_regularised(name: str, param: Tensor) -> bool:
    """Weight decay applies to params with ndim > 1 that are not biases.

    So cls/mask tokens and pos_embed (ndim 3) are regularised; biases and
    norm weights (ndim 1) are not.
    """
    return param.ndim > 1 and not name.endswith(".bias")


def param_groups(model: nn.Module, weight_decay: float = 0.04) -> list[dict]:
    """Two AdamW groups over the trainable parameters of the student.

    Parameters with ``requires_grad`` False (the frozen weight-norm gain, or
    the whole teacher) are left out, so the teacher
    never enters the optimiser. Empty groups are dropped.

    Args:
        model: the student (possibly DDP-wrapped).
        weight_decay: initial weight decay of the regularised group
            (``apply_schedules`` overwrites it every iteration).

    Returns:
        [{"params", "weight_decay", "apply_wd": True, "name": "regularised"},
         {"params", "weight_decay": 0.0, "apply_wd": False, "name": "not_regularised"}]
    """
    reg: list[Tensor] = []
    not_reg: list[Tensor] = []
    for name, p in unwrap_model(model).named_parameters():
        if p.requires_grad:
            (reg if is_regularised(name, p) else not_reg).append(p)
    groups = [
        {"params": reg, "weight_decay": weight_decay, "apply_wd": True, "name": "regularised"},
        {"params": not_reg, "weight_decay": 0.0, "apply_wd": False, "name": "not_regularised"},
    ]
    return [g for g in groups if g["params"]]


def apply_schedules(
    optimizer: torch.optim.Optimizer, it: int, lr_schedule: np.ndarray, wd_schedule: np.ndarray
) -> None:
    """Set every group's lr to lr_schedule[it]; wd_schedule[it] only where ``apply_wd``.

    A group without the ``apply_wd`` key counts as regularised when its weight
    decay is non-zero.
    """
    if not 0 <= it < min(len(lr_schedule), len(wd_schedule)):
        raise ValueError(f"iteration {it} is outside the schedules (length {len(lr_schedule)})")
    lr, wd = float(lr_schedule[it]), float(wd_schedule[it])
    for group in optimizer.param_groups:
        group["lr"] = lr
        if group.get("apply_wd", group.get("weight_decay", 0.0) != 0.0):
            group["weight_decay"] = wd


def _grouped_grads(params: Iterable[Tensor]) -> dict[tuple, list[Tensor]]:
    """Gradients grouped by (device, dtype), as the foreach kernels need."""
    groups: dict[tuple, list[Tensor]] = defaultdict(list)
    for p in params:
        if p.grad is not None:
            groups[(p.grad.device, p.grad.dtype)].append(p.grad)
    return groups


@torch.no_grad()
def clip_gradients_per_parameter(model: nn.Module, max_norm: float = 3.0) -> Tensor:
    """Cap EACH parameter's gradient L2 norm at ``max_norm`` (not a global norm).

    As in DINO: grad *= max_norm / (norm + 1e-6) where that factor is < 1,
    otherwise the gradient is left untouched.

    Args:
        model: the student; parameters without a gradient are skipped.
        max_norm: the cap (3.0).

    Returns:
        (P,) float32 norms before clipping, on the first gradient's device, in
        the order (device, dtype) group by group, parameter order within a
        group (model order when all gradients share device and dtype).
    """
    norms: list[Tensor] = []
    for grads in _grouped_grads(model.parameters()).values():
        group_norms = torch.stack(torch._foreach_norm(grads, 2.0)).to(torch.float32)
        coefs = (max_norm / (group_norms + 1e-6)).clamp(max=1.0)
        torch._foreach_mul_(grads, list(coefs.to(grads[0].dtype).unbind()))
        norms.append(group_norms)
    if not norms:
        return torch.zeros(0)
    device = norms[0].device
    return torch.cat([n.to(device) for n in norms])


def cancel_last_layer_gradients(model: nn.Module, epoch: int, freeze_last_layer: int = 1) -> None:
    """Drop the gradients of the head's last layer during epochs < ``freeze_last_layer``.

    Epochs count from 0, so the default freezes it in epoch 0 only.
    Parameters whose name contains ``last_layer`` get ``grad = None`` and are
    therefore not stepped by AdamW (no weight decay either).
    """
    if epoch >= freeze_last_layer:
        return
    for name, p in model.named_parameters():
        if "last_layer" in name:
            p.grad = None
