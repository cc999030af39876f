"""Teacher-output centre: a running mean of teacher logits (SPEC 3, notation).

The centre is subtracted from the teacher outputs before the sharpened softmax,
P_t(z) = softmax((z - c) / tau_t), and updated AFTER each use with
c <- m * c + (1 - m) * mean(teacher outputs), the mean taken over every
leading dimension and over all ranks when torch.distributed is initialised.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


class Centre(nn.Module):
    """Running centre of teacher outputs.

    The buffer is called ``center`` so that the state dict key matches the
    original release (``dino_loss_cls_list['0.center']``, shape (1, K)).

    Args:
        dim: K, the number of output channels.
        momentum: m in c <- m * c + (1 - m) * batch_mean (0.9 in INO/DINO).
    """

    center: Tensor

    def __init__(self, dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"centre momentum must lie in [0, 1], got {momentum}")
        self.momentum = float(momentum)
        self.register_buffer("center", torch.zeros(1, dim))

    @torch.no_grad()
    def update(self, teacher_out: Tensor) -> None:
        """EMA-update the centre with the mean of ``teacher_out``.

        Args:
            teacher_out: (..., K) teacher outputs; every leading dimension is
                averaged. May hold zero rows: the update then uses only the
                other ranks' rows, and is skipped when no rank has any. Every
                rank must call this together when distributed (all_reduce).
        """
        k = self.center.shape[-1]
        flat = teacher_out.detach().reshape(-1, k).to(self.center.dtype)
        # One all_reduce for both the sum and the row count: [sum_1..sum_K, count].
        packed = torch.cat([flat.sum(0), flat.new_tensor([float(flat.shape[0])])])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(packed)
        count = packed[-1]
        batch_mean = packed[:-1].unsqueeze(0) / count.clamp(min=1.0)
        # Where no rank had a row keep the old centre (momentum 1) without a host sync.
        m = torch.where(count > 0, self.momentum, 1.0).to(self.center.dtype)
        self.center.mul_(m).add_(batch_mean.to(self.center.dtype) * (1.0 - m))

    def extra_repr(self) -> str:
        return f"dim={self.center.shape[-1]}, momentum={self.momentum}"
