"""Out-generative loss L_out on cls outputs: out_g2g and out_l2g.

Frames are paired (t, t + T/2) for t = 0 .. T/2 - 1, i.e. (0, 2), (1, 3) for
the default T = 4. For a pair (a, b) the student views are, in order: global
of a, global of b, the L locals of a, the L locals of b (2 + 2L views; 18 for
L = 8). The teacher targets are the teacher globals of a and b. Every
(target i, view v) combination enters except v = the student global of the
frame of i, giving 2 * (2 + 2L - 1) terms (34 for L = 8):

- g2g: the 2 global-global terms (teacher a -> student global b, and b -> a);
- l2g: the 4L local terms (each teacher target -> each of the 2L locals).

Each term is mean_over_batch CE(P_t(q_i), log P_s(v)). The pair loss is the
average of its 2 + 4L terms, and L_out is the mean over pairs. For logging,
``out_g2g`` is the mean over pairs of the average of the 2 g2g terms and
``out_l2g`` the mean over pairs of the average of the 4L l2g terms, so
L_out = (2 * out_g2g + 4L * out_l2g) / (2 + 4L), not their sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def frame_pairs(num_frames: int) -> list[tuple[int, int]]:
    """Frame pairs of L_out: [(t, t + T/2) for t < T/2]; [(0, 2), (1, 3)] for T = 4.

    Args:
        num_frames: T, the clip length; must be even and positive.
    """
    if num_frames <= 0 or num_frames % 2:
        raise ValueError(
            f"L_out pairs frames (t, t + T/2): T must be even and > 0, got {num_frames}"
        )
    half = num_frames // 2
    return [(t, t + half) for t in range(half)]


def at_least_fp32(x: Tensor) -> Tensor:
    """``x`` in float32 when it is half/bfloat16 (softmax precision), else unchanged."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def teacher_probs(teacher_out: Tensor, center: Tensor, teacher_temp: float) -> Tensor:
    """Centred, sharpened teacher probabilities, a constant (no gradient).

    Args:
        teacher_out: (..., K) teacher outputs.
        center: (1, K) centre, or any shape that broadcasts against ``teacher_out``.
        teacher_temp: tau_t.

    Returns:
        (..., K) softmax((teacher_out - center) / tau_t), detached, at least float32.
    """
    z = at_least_fp32(teacher_out.detach()) - center
    return F.softmax(z / teacher_temp, dim=-1)


def out_loss(
    teacher_global: Tensor,
    student_global: Tensor,
    student_local: Tensor,
    center: Tensor,
    teacher_temp: float = 0.04,
    student_temp: float = 0.1,
) -> tuple[Tensor, Tensor, Tensor]:
    """L_out with its g2g and l2g parts (see the module docstring).

    Args:
        teacher_global: (T, B, K) teacher cls outputs of the global crops.
        student_global: (T, B, K) student cls outputs of the (masked) global crops.
        student_local: (T, L, B, K) student cls outputs of the local crops
            (L = 8 by default; L = 0 gives g2g only).
        center: (1, K) cls centre, or (T, 1, K): the centre frame t's target is
            computed with (the two frames of a pair share one).
        teacher_temp: tau_t.
        student_temp: tau_s.

    Returns:
        (L_out, out_g2g, out_l2g), 0-d tensors (at least float32); out_l2g is 0 when L = 0.
    """
    t, b, k = teacher_global.shape
    n_local = student_local.shape[1]
    if student_global.shape != (t, b, k) or student_local.shape != (t, n_local, b, k):
        raise ValueError(
            f"out_loss shapes: teacher {tuple(teacher_global.shape)}, student global "
            f"{tuple(student_global.shape)}, student local {tuple(student_local.shape)}"
        )
    pairs = frame_pairs(t)
    q = teacher_probs(teacher_global, center, teacher_temp)  # (T, B, K)
    views = torch.cat([student_global.unsqueeze(1), student_local], dim=1)  # (T, V, B, K)
    logp = F.log_softmax(at_least_fp32(views) / student_temp, dim=-1)
    v = 1 + n_local
    # ce[i, j, v] = mean_b CE(q[i, b], logp[j, v, b]) for every teacher frame i,
    # student frame j and view v; one (T, B*K) x (B*K, T*V) matmul.
    ce = -(q.reshape(t, b * k) @ logp.reshape(t * v, b * k).T).reshape(t, t, v) / b

    pair_of = torch.arange(t, device=q.device) % (t // 2)
    same_pair = (pair_of[:, None] == pair_of[None, :]).to(ce.dtype)  # (T, T)
    other_frame = same_pair * (1.0 - torch.eye(t, device=q.device, dtype=ce.dtype))
    g2g_sum = (ce[:, :, 0] * other_frame).sum()
    l2g_sum = (ce[:, :, 1:] * same_pair[:, :, None]).sum()

    n_pairs, n_g2g, n_l2g = len(pairs), 2, 4 * n_local
    loss = (g2g_sum + l2g_sum) / (n_pairs * (n_g2g + n_l2g))
    g2g = g2g_sum / (n_pairs * n_g2g)
    l2g = l2g_sum / (n_pairs * n_l2g) if n_l2g else torch.zeros_like(g2g)
    return loss, g2g, l2g
