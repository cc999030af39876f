"""EMA teacher, parameter groups, per-parameter clipping and last-layer freezing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from inovos.train.ema import unwrap_model, update_teacher
from inovos.train.optim import (
    apply_schedules,
    cancel_last_layer_gradients,
    clip_gradients_per_parameter,
    param_groups,
)


class LastLayer(nn.Module):
    """Weight-norm Linear stand-in with DINO's parameter names; the gain is frozen."""

    def __init__(self, d: int, k: int) -> None:
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(k, 1), requires_grad=False)
        self.weight_v = nn.Parameter(torch.randn(k, d))


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(d, 3 * d)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(d, 2 * d)


class TinyViT(nn.Module):
    """Parameter names and shapes like the ViT + DINO head (no forward needed)."""

    def __init__(self, d: int = 4, k: int = 6) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, d))
        self.mask_token = nn.Parameter(torch.randn(1, 1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, 5, d))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, d, 2, 2)
        self.blocks = nn.ModuleList([Block(d)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Module()
        self.head.last_layer = LastLayer(d, k)


def names_of(model: nn.Module, params) -> set[str]:
    ids = {id(p) for p in params}
    return {n for n, p in model.named_parameters() if id(p) in ids}


# ----------------------------------------------------------------------------- EMA
def test_the_teacher_is_a_frozen_independent_copy():
    from inovos.config import resolve_config
    from inovos.train.setup import build_model

    config = resolve_config(None, ["model.embed_dim=16", "model.depth=1", "model.num_heads=2"])
    model = build_model(config.model, torch.device("cpu")).train()
    student, teacher = model.student, model.teacher
    assert student.training and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    for (n1, p1), (n2, p2) in zip(
        student.named_parameters(), teacher.named_parameters(), strict=True
    ):
        assert n1 == n2 and torch.equal(p1, p2) and p1.data_ptr() != p2.data_ptr()
    assert param_groups(teacher) == []  # the teacher can never enter the optimiser


def test_update_teacher_hand_numbers():
    student, teacher = TinyViT(), TinyViT()
    with torch.no_grad():
        for p in student.parameters():
            p.fill_(1.0)
        for p in teacher.parameters():
            p.fill_(3.0)
    update_teacher(nn.DataParallel(student), teacher, momentum=0.9)  # wrapped student accepted
    for (
        name,
        p,
    ) in teacher.named_parameters():  # 0.9 * 3 + 0.1 * 1, mask_token and frozen gain included
        torch.testing.assert_close(p, torch.full_like(p, 2.8), msg=name)
    update_teacher(student, teacher, momentum=0.5)
    torch.testing.assert_close(teacher.mask_token, torch.full_like(teacher.mask_token, 1.9))


def test_update_teacher_momentum_one_and_zero():
    student, teacher = TinyViT(), TinyViT()
    before = {n: p.clone() for n, p in teacher.named_parameters()}
    update_teacher(student, teacher, momentum=1.0)
    for n, p in teacher.named_parameters():
        assert torch.equal(p, before[n]), n
    update_teacher(student, teacher, momentum=0.0)
    for (n, p), q in zip(teacher.named_parameters(), student.parameters(), strict=True):
        assert torch.equal(p, q), n


def test_update_teacher_matches_plain_loop_and_checks_names():
    student, teacher = TinyViT(), TinyViT()
    want = {
        n: 0.996 * t + 0.004 * s
        for (n, t), s in zip(teacher.named_parameters(), student.parameters(), strict=True)
    }
    update_teacher(student, teacher, 0.996)
    for n, p in teacher.named_parameters():
        torch.testing.assert_close(p, want[n].detach(), msg=n)
    other = TinyViT()
    other.extra = nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError):
        update_teacher(student, other, 0.9)


def test_unwrap_model():
    m = TinyViT()
    assert unwrap_model(nn.DataParallel(m)) is m and unwrap_model(m) is m


# ----------------------------------------------------------------------------- param groups
def test_param_groups_membership():
    model = TinyViT()
    groups = param_groups(nn.DataParallel(model), weight_decay=0.04)
    assert [g["name"] for g in groups] == ["regularised", "not_regularised"]
    assert names_of(model, groups[0]["params"]) == {
        "cls_token",
        "mask_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "blocks.0.attn.qkv.weight",
        "blocks.0.mlp.fc1.weight",
        "head.last_layer.weight_v",
    }
    assert names_of(model, groups[1]["params"]) == {
        "patch_embed.proj.bias",
        "blocks.0.norm1.weight",
        "blocks.0.norm1.bias",
        "blocks.0.attn.qkv.bias",
        "blocks.0.mlp.fc1.bias",
        "norm.weight",
        "norm.bias",
    }  # head.last_layer.weight_g is frozen: in no group
    assert groups[0]["weight_decay"] == 0.04 and groups[1]["weight_decay"] == 0.0


def test_build_optimizer_and_apply_schedules():
    from inovos.config import OptimConfig
    from inovos.train.setup import build_optimizer

    opt = build_optimizer(TinyViT(), OptimConfig(), torch.device("cpu"))
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["betas"] == (0.9, 0.999)
    lr, wd = np.array([0.1, 0.2, 0.3]), np.array([0.04, 0.05, 0.06])
    apply_schedules(opt, 1, lr, wd)
    reg, not_reg = opt.param_groups
    assert reg["lr"] == not_reg["lr"] == 0.2
    assert reg["weight_decay"] == 0.05 and not_reg["weight_decay"] == 0.0
    with pytest.raises(ValueError):
        apply_schedules(opt, 3, lr, wd)


# ----------------------------------------------------------------------------- clipping
def ref_clip(params, max_norm):
    norms = []
    for p in params:
        if p.grad is None:
            continue
        n = p.grad.norm(2)
        norms.append(float(n))
        coef = max_norm / (float(n) + 1e-6)
        if coef < 1:
            p.grad.mul_(coef)
    return norms


def test_clip_gradients_per_parameter_hand_case():
    model = nn.Module()
    model.big = nn.Parameter(torch.zeros(2, 2))
    model.small = nn.Parameter(torch.zeros(3))
    model.nograd = nn.Parameter(torch.zeros(2))
    model.big.grad = torch.tensor([[3.0, 3.0], [3.0, 3.0]])  # norm 6
    model.small.grad = torch.tensor([0.6, 0.8, 0.0])  # norm 1
    small_before = model.small.grad.clone()
    norms = clip_gradients_per_parameter(model, max_norm=3.0)
    torch.testing.assert_close(norms, torch.tensor([6.0, 1.0]))
    torch.testing.assert_close(model.big.grad, torch.full((2, 2), 1.5))  # scaled to norm 3
    assert float(model.big.grad.norm()) == pytest.approx(3.0, rel=1e-6)
    assert torch.equal(model.small.grad, small_before)  # untouched
    assert model.nograd.grad is None


def test_clip_gradients_per_parameter_matches_loop():
    torch.manual_seed(0)
    a, b = TinyViT(), TinyViT()
    b.load_state_dict(a.state_dict())
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        if pa.requires_grad:
            pa.grad = torch.randn_like(pa) * float(torch.rand(()) * 4)
            pb.grad = pa.grad.clone()
    norms = clip_gradients_per_parameter(a, 3.0)
    want = ref_clip(list(b.parameters()), 3.0)
    torch.testing.assert_close(norms, torch.tensor(want))
    assert (norms > 3).any() and (norms < 3).any()  # both branches exercised
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        if pa.grad is not None:
            torch.testing.assert_close(pa.grad, pb.grad)


# ----------------------------------------------------------------------------- last layer
def test_cancel_last_layer_gradients_only_in_epoch_zero():
    model = TinyViT()
    for epoch, freeze, cancelled in [
        (0, 1, True),
        (1, 1, False),
        (5, 1, False),
        (0, 0, False),
        (1, 2, True),
    ]:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        cancel_last_layer_gradients(model, epoch, freeze)
        for name, p in model.named_parameters():
            if "last_layer" in name:
                assert (p.grad is None) == cancelled, (epoch, freeze, name)
            else:
                assert p.grad is not None, name
