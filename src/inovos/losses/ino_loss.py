"""The INO objective L = w_out L_out + w_mim L_mim + w_aff L_aff.

Centre order (as the original release): each centre moves right after each of
its uses, and the next use already sees the moved centre.

- cls centre: frame pair p (of :func:`~inovos.losses.frame_pairs`) is scored
  with the centre after pairs 0..p-1, then updated with the mean of the pair's
  2B teacher global cls outputs: T/2 updates per step.
- patch centre: each frame with masked positions is scored with the centre
  after the earlier masked frames, then updated with the mean of its masked
  teacher patch outputs: up to T updates per step. Frames without a mask
  neither use nor move it.

Every update's mean is over all ranks. :meth:`INOLoss.compute` returns the
new centres without storing them, so a step can drop them when its loss is
not finite; :meth:`INOLoss.commit` stores them; ``forward`` does both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from inovos.losses.aff_loss import aff_loss
from inovos.losses.centering import Centre
from inovos.losses.diagnostics import entropy
from inovos.losses.mim_loss import masked_frame_mean, mim_loss, token_frames
from inovos.losses.out_loss import frame_pairs, out_loss, teacher_probs


def _required(x: Tensor | None, name: str, weight: str) -> Tensor:
    """``x``, or a ValueError saying which enabled term needs it."""
    if x is None:
        raise ValueError(f"{name} is required while {weight} > 0")
    return x


@dataclass
class LossResult:
    """One evaluation of the objective, centres not yet committed.

    Attributes:
        total: 0-d weighted sum (float32 or wider), with its graph.
        terms: unweighted enabled terms ("out", "mim", "aff"), with their graphs.
        parts: detached 0-d values for logging: "loss", the terms, "out_g2g", "out_l2g",
            and the diagnostics of :meth:`INOLoss.compute`.
        cls_center: (1, K) cls centre after this step's updates, or None (L_out off).
        patch_center: (1, K) patch centre after this step's updates, or None (L_mim off).
    """

    total: Tensor
    terms: dict[str, Tensor]
    parts: dict[str, Tensor]
    cls_center: Tensor | None = None
    patch_center: Tensor | None = None


class INOLoss(nn.Module):
    """Combines the three INO terms and owns the cls and patch centres.

    A term whose weight is 0 is not computed (its inputs may be None) and its
    centre is not updated. Teacher outputs are detached: no gradient reaches
    them. See the module docstring for the order of the centre updates.

    Args:
        out_dim: K.
        w_out: weight of L_out (cls tokens).
        w_mim: weight of L_mim (masked patch tokens).
        w_aff: weight of L_aff (affinity of masked patch tokens).
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

    def forward(self, **inputs: Tensor | float | None) -> tuple[Tensor, dict[str, Tensor]]:
        """:meth:`compute`, then :meth:`commit`; returns (total, parts)."""
        result = self.compute(**inputs)  # type: ignore[arg-type]
        self.commit(result)
        return result.total, result.parts

    def compute(
        self,
        *,
        teacher_cls: Tensor | None = None,
        student_cls: Tensor | None = None,
        student_local_cls: Tensor | None = None,
        teacher_patch: Tensor | None = None,
        student_patch: Tensor | None = None,
        mask: Tensor | None = None,
        teacher_temp: float = 0.04,
    ) -> LossResult:
        """Total loss, its parts and the new centres; the stored centres do not change.

        Args:
            teacher_cls: (T, B, K) teacher cls outputs of the unmasked globals.
            student_cls: (T, B, K) student cls outputs of the masked globals.
            student_local_cls: (T, L, B, K) student cls outputs of the locals.
            teacher_patch: (T, B, N, K) teacher patch outputs of the globals.
            student_patch: (T, B, N, K) student patch outputs of the masked globals.
            mask: (T, B, N) bool, True = masked, or None for no mask.
            teacher_temp: tau_t of L_out and L_mim for this iteration.

        Returns:
            The :class:`LossResult`; every rank must call this together when distributed.
            Its parts also hold, per centred term, the mean entropy of the teacher
            distributions it used ("teacher_entropy_cls"; "teacher_entropy_patch" when
            something was masked), KL(teacher || student) averaged like the term
            ("kl_out", "kl_mim"; KL = term - entropy) and the L2 norm of the centre
            after the step ("center_norm_cls", "center_norm_patch").
        """
        result = LossResult(self.cls_center.center.new_zeros((), dtype=torch.float32), {}, {})
        if self.w_out > 0:
            self._add_out(
                result,
                _required(teacher_cls, "teacher_cls", "w_out"),
                _required(student_cls, "student_cls", "w_out"),
                _required(student_local_cls, "student_local_cls", "w_out"),
                teacher_temp,
            )
        if self.w_mim > 0:
            self._add_mim(
                result,
                _required(teacher_patch, "teacher_patch", "w_mim"),
                _required(student_patch, "student_patch", "w_mim"),
                mask,
                teacher_temp,
            )
        if self.w_aff > 0:
            result.terms["aff"] = aff_loss(
                _required(student_patch, "student_patch", "w_aff"),
                _required(teacher_patch, "teacher_patch", "w_aff"),
                mask,
                self.aff_teacher_temp,
                self.aff_student_temp,
            )
        weights = {"out": self.w_out, "mim": self.w_mim, "aff": self.w_aff}
        for name, term in result.terms.items():
            result.total = result.total + weights[name] * term
            result.parts[name] = term.detach()
        result.parts["loss"] = result.total.detach()
        return result

    def _add_out(
        self, result: LossResult, tg: Tensor, sg: Tensor, sl: Tensor, teacher_temp: float
    ) -> None:
        """L_out with the per-pair cls centres, its parts and diagnostics, into ``result``."""
        centres, result.cls_center = self._cls_centres(tg)
        out, g2g, l2g = out_loss(tg, sg, sl, centres, teacher_temp, self.student_temp)
        result.terms["out"] = out
        with torch.no_grad():
            h = entropy(teacher_probs(tg, centres, teacher_temp)).mean()
        result.parts.update(
            out_g2g=g2g.detach(),
            out_l2g=l2g.detach(),
            teacher_entropy_cls=h,
            kl_out=out.detach() - h,
            center_norm_cls=result.cls_center.norm(),
        )

    def _add_mim(
        self, result: LossResult, tp: Tensor, sp: Tensor, mask: Tensor | None, teacher_temp: float
    ) -> None:
        """L_mim with the per-frame patch centres and its diagnostics, into ``result``."""
        centres, result.patch_center = self._patch_centres(tp, mask)
        mim = mim_loss(sp, tp, mask, centres, teacher_temp, self.student_temp)
        result.terms["mim"] = mim
        result.parts["center_norm_patch"] = result.patch_center.norm()
        if mask is not None and bool(mask.any()):
            with torch.no_grad():
                q = teacher_probs(tp[mask], centres[token_frames(mask), 0], teacher_temp)
                h = masked_frame_mean(entropy(q), mask)
            result.parts.update(teacher_entropy_patch=h, kl_mim=mim.detach() - h)

    @torch.no_grad()
    def commit(self, result: LossResult) -> None:
        """Store the centres ``result`` computed (after the caller checked the loss)."""
        if result.cls_center is not None:
            self.cls_center.set_(result.cls_center)
        if result.patch_center is not None:
            self.patch_center.set_(result.patch_center)

    def _cls_centres(self, teacher_cls: Tensor) -> tuple[Tensor, Tensor]:
        """((T, 1, K) centre each frame's target uses, (1, K) centre after the step)."""
        pairs = frame_pairs(teacher_cls.shape[0])
        chain = self.cls_center.chain([teacher_cls[[a, b]] for a, b in pairs])
        per_frame = chain.new_empty(teacher_cls.shape[0], *chain.shape[1:])
        for p, (a, b) in enumerate(pairs):
            per_frame[a] = per_frame[b] = chain[p]
        return per_frame, chain[-1]

    def _patch_centres(self, teacher_patch: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """((T, 1, K) centre each frame is scored with, (1, K) centre after the step).

        Without a mask (the same on every rank) nothing is used: no collective.
        """
        centre = self.patch_center.center
        if mask is not None and mask.shape != teacher_patch.shape[:3]:
            raise ValueError(
                f"mask must be (T, B, N) = {tuple(teacher_patch.shape[:3])}, got {mask.shape}"
            )
        if mask is None:
            return centre.expand(teacher_patch.shape[0], 1, -1), centre.clone()
        chain = self.patch_center.chain([x[m] for x, m in zip(teacher_patch, mask, strict=True)])
        return chain[:-1], chain[-1]
