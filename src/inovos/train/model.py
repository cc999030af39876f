"""Student and teacher networks: ViT backbone + one DINO head, forward and EMA only.

No backward happens here (the loop owns it). The student's forward takes the
global crops (with the patch mask) and the local crops in ONE call, so a
DistributedDataParallel wrapper sees one forward per backward.

Layouts (frame-major, as :class:`inovos.losses.INOLoss` expects):
    globals: (T*B, 3, H, W) with row t*B + b = frame t of clip b;
    locals:  (T*L*B, 3, h, w) with row (t*L + l)*B + b;
    mask:    (T*B, N) bool, True = masked patch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from inovos.layers.dino_head import DINOHead
from inovos.models.vit import VisionTransformer
from inovos.train.ema import update_teacher

HEAD_PREFIX = "head."
COMPAT_HEAD_PREFIX = "headlist.headlist.0."


class NetOutputs(NamedTuple):
    """Projected outputs of one network.

    Attributes:
        cls: (T*B, K) cls outputs of the global crops.
        patch: (T*B, N, K) patch outputs of the global crops.
        local_cls: (T*L*B, K) cls outputs of the local crops, or None.
    """

    cls: Tensor
    patch: Tensor
    local_cls: Tensor | None


class BackboneWithHead(nn.Module):
    """A ViT and a DINO head applied to its cls token and to every patch token.

    Args:
        backbone: the ViT; its forward returns (B, 1+N, D) normed tokens.
        head: the DINO head, (..., D) -> (..., K).
    """

    def __init__(self, backbone: VisionTransformer, head: DINOHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(
        self, globals_: Tensor, mask: Tensor | None = None, locals_: Tensor | None = None
    ) -> NetOutputs:
        """Project the global crops (all tokens) and the local crops (cls only).

        Args:
            globals_: (Bg, 3, H, W) global crops.
            mask: (Bg, N) bool patch mask for the globals, or None.
            locals_: (Bl, 3, h, w) local crops, or None.

        Returns:
            NetOutputs with cls (Bg, K), patch (Bg, N, K), local_cls (Bl, K) or None.
        """
        out = self.head(self.backbone(globals_, mask=mask))  # (Bg, 1+N, K)
        local_cls = None
        if locals_ is not None and locals_.shape[0] > 0:
            local_cls = self.head(self.backbone(locals_)[:, 0])
        return NetOutputs(out[:, 0], out[:, 1:], local_cls)


class StudentTeacher(nn.Module):
    """The two networks. The teacher starts as a copy of the student and gets no gradient.

    Args:
        student: backbone+head trained by the optimiser (drop path as configured).
        teacher: same architecture without drop path; overwritten with the student's weights.
    """

    def __init__(self, student: BackboneWithHead, teacher: BackboneWithHead) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.teacher.load_state_dict(student.state_dict())
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.teacher.eval()

    def train(self, mode: bool = True) -> StudentTeacher:
        """Set the student's mode; the teacher always stays in eval mode."""
        self.training = mode
        self.student.train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def teacher_forward(self, globals_: Tensor) -> NetOutputs:
        """Teacher outputs of the unmasked global crops (no locals): cls (Bg,K), patch (Bg,N,K)."""
        return self.teacher(globals_)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """theta_t <- m theta_t + (1 - m) theta_s over every parameter (mask_token included)."""
        update_teacher(self.student, self.teacher, momentum)

    def compat_state_dicts(self) -> dict[str, dict[str, Tensor]]:
        """Student/teacher weights in the original INO key layout (the released checkpoints' names).

        Returns:
            {"student": {"module.backbone.<vit key>", "module.headlist.headlist.0.<head key>"},
             "teacher": the same keys without "module."}.
        """
        return {
            "student": to_compat(self.student.state_dict(), ddp_prefix=True),
            "teacher": to_compat(self.teacher.state_dict(), ddp_prefix=False),
        }

    def load_compat_state_dicts(
        self, student: dict[str, Tensor], teacher: dict[str, Tensor]
    ) -> None:
        """Inverse of :meth:`compat_state_dicts` (strict: every key must match)."""
        self.student.load_state_dict(from_compat(student))
        self.teacher.load_state_dict(from_compat(teacher))


def to_compat(state: dict[str, Tensor], ddp_prefix: bool) -> dict[str, Tensor]:
    """Rename ``backbone.*``/``head.*`` keys to INO's ``[module.]backbone.*``/``headlist...``."""
    prefix = "module." if ddp_prefix else ""
    renamed = {}
    for key, value in state.items():
        if key.startswith(HEAD_PREFIX):
            key = COMPAT_HEAD_PREFIX + key[len(HEAD_PREFIX) :]
        renamed[prefix + key] = value
    return renamed


def from_compat(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`to_compat` (accepts both prefixed and unprefixed keys)."""
    renamed = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith(COMPAT_HEAD_PREFIX):
            key = HEAD_PREFIX + key[len(COMPAT_HEAD_PREFIX) :]
        renamed[key] = value
    return renamed


__all__ = [
    "BackboneWithHead",
    "NetOutputs",
    "StudentTeacher",
    "from_compat",
    "to_compat",
]
