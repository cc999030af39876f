"""Teacher entropy, KL(teacher || student) and centre norms on hand-computed tiny cases."""

from __future__ import annotations

import math

import pytest
import torch

from inovos.losses import INOLoss
from inovos.losses.diagnostics import entropy

DT = torch.float64
LN2, LN3 = math.log(2.0), math.log(3.0)
H_QUARTER = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))  # H([1/4, 3/4]) = 0.5623


def test_entropy_hand_values():
    p = torch.tensor([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]], dtype=DT)
    torch.testing.assert_close(entropy(p), torch.tensor([H_QUARTER, LN2, 0.0], dtype=DT))
    assert float(entropy(torch.full((8,), 1 / 8, dtype=DT))) == pytest.approx(math.log(8))


def test_cls_entropy_and_kl_on_one_pair():
    # T = 2 (one pair), B = 1, K = 2, no locals; tau_t = 0.5, tau_s = 1, centre 0.
    crit = INOLoss(2, w_out=1.0, w_mim=0.0, w_aff=0.0, student_temp=1.0).to(DT)
    tg = torch.tensor([[[0.0, 0.5 * LN3]], [[0.0, 0.0]]], dtype=DT)  # q = [1/4, 3/4], [1/2, 1/2]
    sg = torch.tensor([[[0.0, LN3]], [[0.0, 0.0]]], dtype=DT)  # p = [1/4, 3/4], [1/2, 1/2]
    _, parts = crit(
        teacher_cls=tg,
        student_cls=sg,
        student_local_cls=torch.zeros(2, 0, 1, 2, dtype=DT),
        teacher_temp=0.5,
    )
    assert float(parts["teacher_entropy_cls"]) == pytest.approx((H_QUARTER + LN2) / 2, abs=1e-12)
    # Terms: teacher 0 -> student global 1 (uniform), teacher 1 -> student global 0.
    kl_0 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    kl_1 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(parts["kl_out"]) == pytest.approx((kl_0 + kl_1) / 2, abs=1e-12)
    # Centre after the pair: 0.1 * mean of the two teacher outputs.
    want_norm = 0.1 * 0.5 * 0.5 * LN3
    assert float(parts["center_norm_cls"]) == pytest.approx(want_norm, abs=1e-12)


def test_patch_entropy_uses_the_centre_moved_by_the_previous_masked_frame():
    # T = 2, B = 1, N = 1, K = 2; frame 1's teacher output equals the centre after frame 0,
    # so its teacher distribution is uniform only if the moved centre is used.
    crit = INOLoss(2, w_out=0.0, w_mim=1.0, w_aff=0.0, student_temp=1.0).to(DT)
    first = torch.tensor([0.0, 0.5 * LN3], dtype=DT)
    tp = torch.stack([first, 0.1 * first]).view(2, 1, 1, 2)
    sp = torch.zeros(2, 1, 1, 2, dtype=DT)  # uniform student
    mask = torch.ones(2, 1, 1, dtype=torch.bool)
    _, parts = crit(teacher_patch=tp, student_patch=sp, mask=mask, teacher_temp=0.5)
    assert float(parts["teacher_entropy_patch"]) == pytest.approx((H_QUARTER + LN2) / 2, abs=1e-12)
    assert float(parts["kl_mim"]) == pytest.approx((LN2 - H_QUARTER) / 2, abs=1e-12)
    centre = 0.9 * 0.1 * first + 0.1 * 0.1 * first
    assert float(parts["center_norm_patch"]) == pytest.approx(float(centre.norm()), abs=1e-12)


def test_no_patch_entropy_without_a_mask():
    crit = INOLoss(2, w_out=0.0, w_mim=1.0, w_aff=0.0)
    x = torch.randn(2, 1, 3, 2)
    _, parts = crit(teacher_patch=x, student_patch=x, mask=None)
    assert "teacher_entropy_patch" not in parts and "kl_mim" not in parts
    assert float(parts["center_norm_patch"]) == 0.0
