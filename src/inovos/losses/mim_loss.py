"""In-generative masked image modelling loss L_mim on patch outputs.

For every frame t whose mask is non-empty, the student's outputs at the masked
positions (from the masked global crop) are trained towards the teacher's
outputs at the same positions (from the unmasked global crop):

    L_t = mean over the masked tokens (b, n) of frame t of
          CE(P_t(teacher[t, b, n]; patch centre), log P_s(student[t, b, n]))

and L_mim = mean of L_t over the frames with a mask (0 when nothing is masked).
Frame t is scored with its own centre: the patch centre moves after every
masked frame (see :class:`inovos.losses.INOLoss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from inovos.losses.out_loss import at_least_fp32, teacher_probs


def mim_loss(
    student_patch: Tensor,
    teacher_patch: Tensor,
    mask: Tensor | None,
    center: Tensor,
    teacher_temp: float = 0.04,
    student_temp: float = 0.1,
) -> Tensor:
    """L_mim (see the module docstring).

    Args:
        student_patch: (T, B, N, K) student patch outputs of the masked globals.
        teacher_patch: (T, B, N, K) teacher patch outputs of the unmasked globals.
        mask: (T, B, N) bool, True = masked; None means no mask. Positions and
            counts may differ per sample and frame (each token counts once).
        center: (1, K) patch centre, or (T, 1, K): the centre frame t is scored with.
        teacher_temp: tau_t.
        student_temp: tau_s.

    Returns:
        0-d tensor (at least float32); a constant 0 when no position is masked.
    """
    t, b, n, _ = student_patch.shape
    if teacher_patch.shape != student_patch.shape:
        raise ValueError(
            f"mim_loss shapes: student {tuple(student_patch.shape)}, "
            f"teacher {tuple(teacher_patch.shape)}"
        )
    zero = at_least_fp32(student_patch.new_zeros(()))
    if mask is None:
        return zero
    if mask.shape != (t, b, n) or mask.dtype != torch.bool:
        raise ValueError(f"mim_loss mask must be bool (T, B, N) = {(t, b, n)}, got {mask.shape}")
    student_sel = student_patch[mask]  # (P, K), P = total masked tokens
    if student_sel.shape[0] == 0:
        return zero
    per_token = center[token_frames(mask), 0] if center.dim() == 3 else center
    q = teacher_probs(teacher_patch[mask], per_token, teacher_temp)  # (P, K)
    logp = F.log_softmax(at_least_fp32(student_sel) / student_temp, dim=-1)
    return masked_frame_mean(-(q * logp).sum(-1), mask)


def token_frames(mask: Tensor) -> Tensor:
    """(P,) frame index of each masked token of a (T, B, N) bool mask, in ``x[mask]`` order."""
    t, b, n = mask.shape
    return torch.arange(t, device=mask.device).view(t, 1, 1).expand(t, b, n)[mask]


def masked_frame_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over the frames with a mask of the mean over each frame's masked tokens.

    Args:
        values: (P,) one value per masked token, in ``mask`` order (``x[mask]``).
        mask: (T, B, N) bool with P True in all; at least one True.

    Returns:
        0-d tensor.
    """
    t = mask.shape[0]
    sums = torch.zeros(t, device=values.device, dtype=values.dtype)
    sums = sums.index_add(0, token_frames(mask), values)
    counts = mask.reshape(t, -1).sum(1).to(values.dtype)  # (T,)
    has_mask = counts > 0
    return (sums[has_mask] / counts[has_mask]).mean()
