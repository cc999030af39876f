"""In-generative affinity loss L_aff on patch outputs.

Take the K-dim patch outputs at the masked positions, (T, B, M, K), for the
student and the teacher, L2-normalise each token over channels, and for every
pair of consecutive frames (t, t+1) build the M x M affinity
A[n, m] = <x_{t,n}, x_{t+1,m}>. Then

    L_aff = mean over b, t = 0..T-2 and n of
            CE(softmax_m(A_teacher / tau_t_aff), log_softmax_m(A_student / tau_s_aff))

with tau_t_aff = 0.04 and tau_s_aff = 0.1 by default. No centre is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from inovos.losses.out_loss import at_least_fp32


def gather_masked(x: Tensor, mask: Tensor) -> Tensor:
    """Tokens at masked positions, in position order.

    Args:
        x: (T, B, N, K) patch outputs.
        mask: (T, B, N) bool with the same number M of True per (t, b).

    Returns:
        (T, B, M, K).
    """
    t, b, n, k = x.shape
    if mask.shape != (t, b, n) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool (T, B, N) = {(t, b, n)}, got {tuple(mask.shape)}")
    counts = mask.sum(-1)
    if int(counts.min()) != int(counts.max()):
        raise ValueError(
            "L_aff needs the same number of masked positions in every frame and sample"
        )
    return x[mask].reshape(t, b, int(counts.max()), k)


def affinity(x: Tensor) -> Tensor:
    """Affinity between consecutive frames of L2-normalised tokens.

    Args:
        x: (T, B, M, K) tokens.

    Returns:
        (T-1, B, M, M), at least float32, with A[t, b, n, m] = <x_{t,b,n}, x_{t+1,b,m}> / norms.
    """
    x = F.normalize(at_least_fp32(x), dim=-1)
    return x[:-1] @ x[1:].transpose(-1, -2)


def aff_loss(
    student_patch: Tensor,
    teacher_patch: Tensor,
    mask: Tensor | None,
    teacher_temp: float = 0.04,
    student_temp: float = 0.1,
) -> Tensor:
    """L_aff (see the module docstring).

    Args:
        student_patch: (T, B, N, K) student patch outputs of the masked globals.
        teacher_patch: (T, B, N, K) teacher patch outputs (treated as constants).
        mask: (T, B, N) bool, same count M per (t, b); None means no mask.
        teacher_temp: temperature of the teacher affinity softmax (0.04).
        student_temp: temperature of the student affinity log-softmax (0.1).

    Returns:
        0-d tensor (at least float32); a constant 0 when nothing is masked or T < 2.
    """
    if teacher_patch.shape != student_patch.shape:
        raise ValueError(
            f"aff_loss shapes: student {tuple(student_patch.shape)}, "
            f"teacher {tuple(teacher_patch.shape)}"
        )
    zero = at_least_fp32(student_patch.new_zeros(()))
    if mask is None or student_patch.shape[0] < 2:
        return zero
    student_sel = gather_masked(student_patch, mask)
    if student_sel.shape[2] == 0:
        return zero
    with torch.no_grad():
        q = F.softmax(affinity(gather_masked(teacher_patch.detach(), mask)) / teacher_temp, dim=-1)
    logp = F.log_softmax(affinity(student_sel) / student_temp, dim=-1)
    return -(q * logp).sum(-1).mean()
