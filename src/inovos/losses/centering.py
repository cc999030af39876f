"""Teacher-output centre: a running mean of teacher logits.

The centre is subtracted from the teacher outputs before the sharpened softmax,
P_t(z) = softmax((z - c) / tau_t), and updated right AFTER each use with
c <- m * c + (1 - m) * mean(teacher outputs of that use), the mean taken over
every leading dimension and over all ranks when torch.distributed is
initialised. A use whose outputs are empty on every rank leaves it unchanged.

Because a use's mean does not depend on the centre, the centres seen by a
sequence of uses (:func:`centre_chain`) need the per-use means only: they are
all-reduced together (:func:`reduced_means`, one collective per step), which
gives the same values as one all-reduce at the moment of each update.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


def reduced_means(uses: list[Tensor], dim: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Mean of each use's rows over all ranks, with one all-reduce.

    Args:
        uses: G tensors (..., K); every leading dimension is averaged. A use may
            hold zero rows. Every rank must call this together with the same G.
        dim: K.
        dtype: dtype of the sums and means (the centre's).

    Returns:
        (means, counts): (G, K) means (0 where no rank had a row) and (G,) total
        row counts over ranks.
    """
    packed = torch.zeros(len(uses), dim + 1, dtype=dtype, device=_device(uses))
    for g, x in enumerate(uses):  # [sum_1..sum_K, count] per use
        flat = x.detach().reshape(-1, dim).to(dtype)
        packed[g, :dim] = flat.sum(0)
        packed[g, dim] = float(flat.shape[0])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(packed)
    counts = packed[:, dim]
    return packed[:, :dim] / counts.clamp(min=1.0).unsqueeze(1), counts


def _device(uses: list[Tensor]) -> torch.device | None:
    return uses[0].device if uses else None


def centre_chain(center: Tensor, means: Tensor, counts: Tensor, momentum: float) -> Tensor:
    """The centre before each use and after the last one.

    Args:
        center: (1, K) centre before the first use.
        means: (G, K) mean teacher output of each use (all ranks).
        counts: (G,) rows behind each mean; 0 means the use did not happen.
        momentum: m of c <- m * c + (1 - m) * mean.

    Returns:
        (G + 1, 1, K): entry g is the centre use g is scored with; entry G the
        centre after the step.
    """
    chain = [center]
    one = torch.ones((), dtype=center.dtype, device=center.device)
    for g in range(means.shape[0]):
        # Where no rank had a row keep the centre (momentum 1) without a host sync.
        m = torch.where(counts[g] > 0, one * momentum, one)
        chain.append(chain[-1] * m + means[g : g + 1].to(center.dtype) * (1.0 - m))
    return torch.stack(chain)


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
    def chain(self, uses: list[Tensor]) -> Tensor:
        """Centres for a sequence of uses, starting from this one; the buffer is not changed.

        Args:
            uses: teacher outputs (..., K) of each use, in order (see :func:`reduced_means`).

        Returns:
            (len(uses) + 1, 1, K), see :func:`centre_chain`.
        """
        k = self.center.shape[-1]
        means, counts = reduced_means(uses, k, self.center.dtype)
        return centre_chain(self.center, means, counts, self.momentum)

    @torch.no_grad()
    def set_(self, value: Tensor) -> None:
        """Replace the centre with ``value`` (1, K)."""
        self.center.copy_(value.reshape_as(self.center))

    @torch.no_grad()
    def update(self, teacher_out: Tensor) -> None:
        """EMA-update the centre with the mean of ``teacher_out`` (one use).

        Args:
            teacher_out: (..., K) teacher outputs; every leading dimension is
                averaged. May hold zero rows: the update then uses only the
                other ranks' rows, and is skipped when no rank has any. Every
                rank must call this together when distributed (all_reduce).
        """
        self.set_(self.chain([teacher_out])[-1])

    def extra_repr(self) -> str:
        return f"dim={self.center.shape[-1]}, momentum={self.momentum}"
