"""The INO objective L = w_out L_out + w_mim L_mim + w_aff L_aff (SPEC 3.4)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from inovos.losses.aff_loss import aff_loss
from inovos.losses.centering import Centre
from inovos.losses.mim_loss import mim_loss
from inovos.losses.out_loss import out_loss


def _required(x: Tensor | None, name: str, weight: str) -> Tensor:
    """``x``, or a ValueError saying which enabled term needs it."""
    if x is None:
        raise ValueError(f"{name} is required while {weight} > 0")
    return x


class INOLoss(nn.Module):
    """Combines the three INO terms and owns the cls and patch centres.

    A term whose weight is 0 is not computed (its inputs may be None) and its
    centre is not updated. The centres are updated after the terms have used
    the old values: the cls centre with all teacher global cls outputs, the
    patch centre with the teacher patch outputs at the masked positions (the
    outputs L_mim uses; no change when no rank masked anything). Teacher
    outputs are detached: no gradient reaches them.

    Args:
        out_dim: K.
        w_out: weight of L_out (cls tokens, SPEC 3.1).
        w_mim: weight of L_mim (masked patch tokens, SPEC 3.2).
        w_aff: weight of L_aff (affinity of masked patch tokens, SPEC 3.3).
        student_temp: tau_s of L_out and L_mim.
        aff_teacher_temp: teacher temperature of L_aff.
        aff_student_temp: student temperature of L_aff.
        center_momentum: momentum of both centres.
    """

    def __init__(
        self,
        out_dim: int,
        *,
        w_out: float = 1.0,
        w_mim: float = 1.0,
        w_aff: float = 1.0,
        student_temp: float = 0.1,
        aff_teacher_temp: float = 0.04,
        aff_student_temp: float = 0.1,
        center_momentum: float = 0.9,
    ) -> None:
        super().__init__()
        if min(w_out, w_mim, w_aff) < 0 or max(w_out, w_mim, w_aff) == 0:
            raise ValueError(
                f"loss weights must be >= 0 and not all 0, got {w_out}, {w_mim}, {w_aff}"
            )
        self.w_out, self.w_mim, self.w_aff = float(w_out), float(w_mim), float(w_aff)
        self.student_temp = student_temp
        self.aff_teacher_temp = aff_teacher_temp
        self.aff_student_temp = aff_student_temp
        self.cls_center = Centre(out_dim, center_momentum)
        self.patch_center = Centre(out_dim, center_momentum)

    def forward(
        self,
        *,
        teacher_cls: Tensor | None = None,
        student_cls: Tensor | None = None,
        student_local_cls: Tensor | None = None,
        teacher_patch: Tensor | None = None,
        student_patch: Tensor | None = None,
        mask: Tensor | None = None,
        teacher_temp: float = 0.04,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and its detached parts.

        Args:
            teacher_cls: (T, B, K) teacher cls outputs of the unmasked globals.
            student_cls: (T, B, K) student cls outputs of the masked globals.
            student_local_cls: (T, L, B, K) student cls outputs of the locals.
            teacher_patch: (T, B, N, K) teacher patch outputs of the globals.
            student_patch: (T, B, N, K) student patch outputs of the masked globals.
            mask: (T, B, N) bool, True = masked, or None for no mask.
            teacher_temp: tau_t of L_out and L_mim for this iteration.

        Returns:
            (total, parts): total is the weighted sum (0-d, float32); parts holds
            detached 0-d tensors "loss" and, for each enabled term, its unweighted
            value: "out", "out_g2g", "out_l2g", "mim", "aff".
        """
        total = self.cls_center.center.new_zeros((), dtype=torch.float32)
        parts: dict[str, Tensor] = {}
        if self.w_out > 0:
            out, g2g, l2g = out_loss(
                _required(teacher_cls, "teacher_cls", "w_out"),
                _required(student_cls, "student_cls", "w_out"),
                _required(student_local_cls, "student_local_cls", "w_out"),
                self.cls_center.center,
                teacher_temp,
                self.student_temp,
            )
            total = total + self.w_out * out
            parts.update(out=out.detach(), out_g2g=g2g.detach(), out_l2g=l2g.detach())
        if self.w_mim > 0:
            mim = mim_loss(
                _required(student_patch, "student_patch", "w_mim"),
                _required(teacher_patch, "teacher_patch", "w_mim"),
                mask,
                self.patch_center.center,
                teacher_temp,
                self.student_temp,
            )
            total = total + self.w_mim * mim
            parts["mim"] = mim.detach()
        if self.w_aff > 0:
            aff = aff_loss(
                _required(student_patch, "student_patch", "w_aff"),
                _required(teacher_patch, "teacher_patch", "w_aff"),
                mask,
                self.aff_teacher_temp,
                self.aff_student_temp,
            )
            total = total + self.w_aff * aff
            parts["aff"] = aff.detach()
        parts["loss"] = total.detach()
        self._update_centres(teacher_cls, teacher_patch, mask)
        return total, parts

    @torch.no_grad()
    def _update_centres(
        self, teacher_cls: Tensor | None, teacher_patch: Tensor | None, mask: Tensor | None
    ) -> None:
        """Update the centres of the enabled centred terms (after their use)."""
        if self.w_out > 0 and teacher_cls is not None:
            self.cls_center.update(teacher_cls)
        if self.w_mim > 0 and teacher_patch is not None:
            k = teacher_patch.shape[-1]
            used = teacher_patch[mask] if mask is not None else teacher_patch.new_zeros(0, k)
            self.patch_center.update(used)
