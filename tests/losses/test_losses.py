"""INO loss terms against plain loop references written literally from the rules of the objective."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import inovos.losses.ino_loss as ino_loss_module
from inovos.losses import (
    Centre,
    INOLoss,
    aff_loss,
    frame_pairs,
    gather_masked,
    mim_loss,
    out_loss,
)

DT = torch.float64


# ----------------------------------------------------------------------------- references
def ce(q: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """CE(p, q) = -sum_k p_k log q_k over the last dim."""
    return -(q * logp).sum(-1)


def ref_out(tg, sg, sl, c, tt, ts):
    """L_out, g2g, l2g by explicit loops over pairs, targets and views."""
    t = tg.shape[0]
    pair_losses, g2g_losses, l2g_losses = [], [], []
    for a, b in [(f, f + t // 2) for f in range(t // 2)]:
        targets = [(a, F.softmax((tg[a] - c) / tt, -1)), (b, F.softmax((tg[b] - c) / tt, -1))]
        views = [("global", a, sg[a]), ("global", b, sg[b])]
        views += [("local", a, sl[a, i]) for i in range(sl.shape[1])]
        views += [("local", b, sl[b, i]) for i in range(sl.shape[1])]
        terms, g2g, l2g = [], [], []
        for frame_i, q in targets:
            for kind, frame_v, s in views:
                if kind == "global" and frame_v == frame_i:
                    continue
                term = ce(q, F.log_softmax(s / ts, -1)).mean()  # mean over batch
                terms.append(term)
                (g2g if kind == "global" else l2g).append(term)
        assert len(terms) == 2 * (len(views) - 1)
        pair_losses.append(sum(terms) / len(terms))
        g2g_losses.append(sum(g2g) / len(g2g))
        l2g_losses.append(sum(l2g) / len(l2g) if l2g else torch.tensor(0.0, dtype=DT))
    n = len(pair_losses)
    return sum(pair_losses) / n, sum(g2g_losses) / n, sum(l2g_losses) / n


def ref_mim(sp, tp, mask, c, tt, ts):
    """L_mim by explicit loops over frames and masked tokens."""
    t, b, n, _ = sp.shape
    frame_losses = []
    for f in range(t):
        tokens = []
        for i in range(b):
            for j in range(n):
                if mask[f, i, j]:
                    q = F.softmax((tp[f, i, j] - c[0]) / tt, -1)
                    tokens.append(ce(q, F.log_softmax(sp[f, i, j] / ts, -1)))
        if tokens:
            frame_losses.append(sum(tokens) / len(tokens))
    if not frame_losses:
        return torch.tensor(0.0, dtype=DT)
    return sum(frame_losses) / len(frame_losses)


def ref_aff(sp, tp, mask, tt=0.04, ts=0.1):
    """L_aff by explicit loops over batch, consecutive frames, n and m."""
    t, b, n, _ = sp.shape
    rows = []
    for i in range(b):
        xs = [
            [F.normalize(sp[f, i, j], dim=0) for j in range(n) if mask[f, i, j]] for f in range(t)
        ]
        xt = [
            [F.normalize(tp[f, i, j], dim=0) for j in range(n) if mask[f, i, j]] for f in range(t)
        ]
        for f in range(t - 1):
            for a in range(len(xs[f])):
                a_s = torch.stack(
                    [torch.dot(xs[f][a], xs[f + 1][m]) for m in range(len(xs[f + 1]))]
                )
                a_t = torch.stack(
                    [torch.dot(xt[f][a], xt[f + 1][m]) for m in range(len(xt[f + 1]))]
                )
                rows.append(ce(F.softmax(a_t / tt, -1), F.log_softmax(a_s / ts, -1)))
    return sum(rows) / len(rows)


def cls_inputs(t=4, n_local=8, b=2, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    tg = torch.randn(t, b, k, generator=g, dtype=DT)
    sg = torch.randn(t, b, k, generator=g, dtype=DT)
    sl = torch.randn(t, n_local, b, k, generator=g, dtype=DT)
    c = 0.3 * torch.randn(1, k, generator=g, dtype=DT)
    return tg, sg, sl, c


def fixed_count_mask(t, b, n, m, seed=0, per_sample=True):
    """(T, B, N) bool with m True per (t, b); one shared position set unless per_sample."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(t, b, n, dtype=torch.bool)
    shared = torch.randperm(n, generator=g)[:m]
    for f in range(t):
        for i in range(b):
            mask[f, i, torch.randperm(n, generator=g)[:m] if per_sample else shared] = True
    return mask


# ----------------------------------------------------------------------------- L_out
def test_frame_pairs():
    assert frame_pairs(4) == [(0, 2), (1, 3)]
    assert frame_pairs(2) == [(0, 1)]
    assert frame_pairs(6) == [(0, 3), (1, 4), (2, 5)]
    with pytest.raises(ValueError):
        frame_pairs(3)


@pytest.mark.parametrize(
    ("t", "n_local", "b"), [(4, 8, 2), (4, 2, 1), (2, 3, 2), (6, 1, 1), (4, 0, 2)]
)
def test_out_loss_matches_loop_reference(t, n_local, b):
    tg, sg, sl, c = cls_inputs(t, n_local, b)
    got = out_loss(tg, sg, sl, c, 0.04, 0.1)
    want = ref_out(tg, sg, sl, c, 0.04, 0.1)
    for g_, w_ in zip(got, want, strict=True):
        torch.testing.assert_close(g_.to(DT), w_.to(DT), rtol=1e-5, atol=1e-6)
    # L_out is the 34-term average, i.e. the count-weighted mean of the two logged parts.
    loss, g2g, l2g = got
    if n_local:
        torch.testing.assert_close(loss, (2 * g2g + 4 * n_local * l2g) / (2 + 4 * n_local))


def test_out_loss_enumerates_exactly_the_34_terms_per_pair():
    """Recover which (teacher frame, student view) pairs enter, and with what weight.

    Teacher frame i is one-hot on class i, so each term is -log P_s(v)[i]; with
    uniform student logits and tau_s = 1, dL/ds_v[k] = sum_{i in S(v)} w (1/K - [k == i]).
    Hence the weight of (i, v) is (grad_v[K-1] - grad_v[i]), K-1 being unused.
    """
    t, n_local, b, k = 4, 8, 1, 6
    tg = torch.zeros(t, b, k, dtype=DT)
    for i in range(t):
        tg[i, :, i] = 100.0  # sharpened to an exact one-hot
    sg = torch.zeros(t, b, k, dtype=DT, requires_grad=True)
    sl = torch.zeros(t, n_local, b, k, dtype=DT, requires_grad=True)
    loss, _, _ = out_loss(tg, sg, sl, torch.zeros(1, k, dtype=DT), 0.04, 1.0)
    loss.backward()
    grads = torch.cat([sg.grad.unsqueeze(1), sl.grad], 1)[:, :, 0]  # (T frames, 9 views, K)
    weight = grads[..., k - 1 : k] - grads[..., :t]  # (frame_v, view, teacher frame i)
    entering = set()
    for fv in range(t):
        for v in range(1 + n_local):
            for i in range(t):
                w = float(weight[fv, v, i])
                if abs(w) > 1e-12:
                    assert w == pytest.approx(1 / (2 * 34))  # mean of 34 terms, mean of 2 pairs
                    entering.add((i, fv, v))
    expected = set()
    for a, bb in [(0, 2), (1, 3)]:
        for i in (a, bb):
            expected |= {(i, bb if i == a else a, 0)}  # g2g: the other frame's student global
            expected |= {(i, fv, v) for fv in (a, bb) for v in range(1, 1 + n_local)}  # l2g
    assert entering == expected
    assert len(expected) == 2 * 34
    assert sum(1 for i, fv, v in entering if v == 0) == 4  # 2 g2g terms per pair


def test_out_loss_hand_value():
    # Uniform teacher and student: every term is log K, so every output is log K.
    t, b, k = 4, 2, 3
    z = torch.zeros(t, b, k)
    loss, g2g, l2g = out_loss(z, z, torch.zeros(t, 8, b, k), torch.zeros(1, k))
    for x in (loss, g2g, l2g):
        assert float(x) == pytest.approx(math.log(3), rel=1e-6)


# ----------------------------------------------------------------------------- L_mim
def test_mim_hand_value():
    # q = softmax([0, ln 3]) = [1/4, 3/4] = P_s, so CE = H(1/4) wherever masked.
    k = 2
    tp = torch.tensor([0.0, 0.04 * math.log(3)]).expand(4, 1, 3, k)
    sp = torch.tensor([0.0, 0.1 * math.log(3)]).expand(4, 1, 3, k)
    mask = torch.zeros(4, 1, 3, dtype=torch.bool)
    mask[1, 0, 2] = True
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(mim_loss(sp, tp, mask, torch.zeros(1, k))) == pytest.approx(h, rel=1e-5)


@pytest.mark.parametrize("per_sample", [True, False])
def test_mim_matches_loop_reference(per_sample):
    g = torch.Generator().manual_seed(1)
    t, b, n, k = 4, 2, 6, 4
    sp, tp = torch.randn(2, t, b, n, k, generator=g, dtype=DT)
    c = torch.randn(1, k, generator=g, dtype=DT)
    mask = fixed_count_mask(t, b, n, 3, per_sample=per_sample)
    torch.testing.assert_close(mim_loss(sp, tp, mask, c), ref_mim(sp, tp, mask, c, 0.04, 0.1))
    # Frames without a mask and unequal counts: only masked frames are averaged.
    mask[0] = False
    mask[2, 1, :] = True
    torch.testing.assert_close(mim_loss(sp, tp, mask, c), ref_mim(sp, tp, mask, c, 0.04, 0.1))


def test_mim_zero_without_mask():
    sp = torch.randn(4, 2, 5, 3, requires_grad=True)
    tp = torch.randn(4, 2, 5, 3)
    c = torch.zeros(1, 3)
    assert float(mim_loss(sp, tp, None, c)) == 0.0
    assert float(mim_loss(sp, tp, torch.zeros(4, 2, 5, dtype=torch.bool), c)) == 0.0


# ----------------------------------------------------------------------------- L_aff
@pytest.mark.parametrize("per_sample", [True, False])
def test_aff_matches_loop_reference(per_sample):
    g = torch.Generator().manual_seed(2)
    t, b, n, k = 4, 2, 7, 5
    sp, tp = torch.randn(2, t, b, n, k, generator=g, dtype=DT)
    mask = fixed_count_mask(t, b, n, 3, seed=3, per_sample=per_sample)
    torch.testing.assert_close(
        aff_loss(sp, tp, mask).to(DT), ref_aff(sp, tp, mask), rtol=1e-5, atol=1e-6
    )
    got = aff_loss(sp, tp, mask, teacher_temp=0.07, student_temp=0.2).to(DT)
    torch.testing.assert_close(got, ref_aff(sp, tp, mask, 0.07, 0.2), rtol=1e-5, atol=1e-6)


def test_aff_identity_and_empty_cases():
    sp, tp = torch.randn(2, 4, 2, 5, 3)
    one = torch.zeros(4, 2, 5, dtype=torch.bool)
    one[..., 1] = True  # M = 1: a softmax over one entry, CE = 0
    assert float(aff_loss(sp, tp, one)) == pytest.approx(0.0, abs=1e-7)
    assert float(aff_loss(sp, tp, None)) == 0.0
    assert float(aff_loss(sp, tp, torch.zeros(4, 2, 5, dtype=torch.bool))) == 0.0
    uneven = one.clone()
    uneven[0, 0, 2] = True
    with pytest.raises(ValueError):
        aff_loss(sp, tp, uneven)


def test_gather_masked_keeps_position_order():
    x = torch.arange(2 * 1 * 4 * 1, dtype=torch.float32).view(2, 1, 4, 1)
    mask = torch.tensor([[[True, False, True, False]], [[False, True, False, True]]])
    assert gather_masked(x, mask).flatten().tolist() == [0.0, 2.0, 5.0, 7.0]


# ----------------------------------------------------------------------------- centres
def test_centre_update_hand_numbers():
    c = Centre(2, momentum=0.9)
    c.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # mean [2, 3]
    torch.testing.assert_close(c.center, torch.tensor([[0.2, 0.3]]))
    c.update(torch.tensor([[[1.0, 0.0]], [[3.0, 2.0]]]))  # (2, 1, 2): mean over leading dims [2, 1]
    torch.testing.assert_close(c.center, torch.tensor([[0.9 * 0.2 + 0.2, 0.9 * 0.3 + 0.1]]))
    before = c.center.clone()
    c.update(torch.zeros(0, 2))  # nothing used: unchanged
    torch.testing.assert_close(c.center, before)
    c2 = Centre(2, momentum=0.5)
    c2.update(torch.tensor([[4.0, -2.0]]))
    torch.testing.assert_close(c2.center, torch.tensor([[2.0, -1.0]]))
    assert list(c.state_dict()) == ["center"]


# ----------------------------------------------------------------------------- INOLoss
def ino_inputs(seed=0, t=4, b=2, n=6, k=5, m=2, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    d = {
        "teacher_cls": torch.randn(t, b, k, generator=g),
        "student_cls": torch.randn(t, b, k, generator=g),
        "student_local_cls": torch.randn(t, 8, b, k, generator=g),
        "teacher_patch": torch.randn(t, b, n, k, generator=g),
        "student_patch": torch.randn(t, b, n, k, generator=g),
    }
    for x in d.values():
        x.requires_grad_(requires_grad)
    d["mask"] = fixed_count_mask(t, b, n, m, seed=seed)
    return d


def test_ino_loss_combines_terms_and_updates_centres_after_each_use():
    x = ino_inputs()
    crit = INOLoss(5, w_out=1.0, w_mim=0.5, w_aff=2.0)
    crit.cls_center.center.fill_(0.1)
    crit.patch_center.center.fill_(-0.2)
    old_cls, old_patch = crit.cls_center.center.clone(), crit.patch_center.center.clone()
    total, parts = crit(**x, teacher_temp=0.05)
    tg, tp, mask = x["teacher_cls"], x["teacher_patch"], x["mask"]
    # cls: pair (0, 2) sees the old centre, pair (1, 3) the centre moved by pair (0, 2).
    cls_1 = 0.9 * old_cls + 0.1 * tg[[0, 2]].reshape(-1, 5).mean(0, keepdim=True)
    cls_2 = 0.9 * cls_1 + 0.1 * tg[[1, 3]].reshape(-1, 5).mean(0, keepdim=True)
    per_frame_cls = torch.stack([old_cls, cls_1, old_cls, cls_1])
    # patch: frame t sees the centre moved by frames 0..t-1 (all masked here).
    patch = [old_patch]
    for f in range(4):
        patch.append(0.9 * patch[-1] + 0.1 * tp[f][mask[f]].mean(0, keepdim=True))
    out, g2g, l2g = out_loss(tg, x["student_cls"], x["student_local_cls"], per_frame_cls, 0.05, 0.1)
    mim = mim_loss(x["student_patch"], tp, mask, torch.stack(patch[:4]), 0.05, 0.1)
    aff = aff_loss(x["student_patch"], tp, mask, 0.04, 0.1)
    torch.testing.assert_close(total, out + 0.5 * mim + 2.0 * aff)
    diagnostics = {"teacher_entropy_cls", "kl_out", "center_norm_cls"}
    diagnostics |= {"teacher_entropy_patch", "kl_mim", "center_norm_patch"}
    assert set(parts) == {"loss", "out", "out_g2g", "out_l2g", "mim", "aff"} | diagnostics
    for key, val in {"out": out, "out_g2g": g2g, "out_l2g": l2g, "mim": mim, "aff": aff}.items():
        torch.testing.assert_close(parts[key], val)
    torch.testing.assert_close(crit.cls_center.center, cls_2)
    torch.testing.assert_close(crit.patch_center.center, patch[-1])


def test_ino_loss_disabled_terms_are_not_computed(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("a disabled term was computed")

    monkeypatch.setattr(ino_loss_module, "mim_loss", boom)
    monkeypatch.setattr(ino_loss_module, "aff_loss", boom)
    crit = INOLoss(5, w_out=1.0, w_mim=0.0, w_aff=0.0)
    x = ino_inputs()
    total, parts = crit(
        teacher_cls=x["teacher_cls"],
        student_cls=x["student_cls"],
        student_local_cls=x["student_local_cls"],
    )
    assert set(parts) == {"loss", "out", "out_g2g", "out_l2g"} | {
        "teacher_entropy_cls",
        "kl_out",
        "center_norm_cls",
    }
    assert torch.count_nonzero(crit.patch_center.center) == 0  # unused centre untouched

    monkeypatch.setattr(ino_loss_module, "out_loss", boom)
    monkeypatch.undo()
    monkeypatch.setattr(ino_loss_module, "out_loss", boom)
    crit = INOLoss(5, w_out=0.0, w_mim=0.0, w_aff=1.0)
    total, parts = crit(
        teacher_patch=x["teacher_patch"], student_patch=x["student_patch"], mask=x["mask"]
    )
    assert set(parts) == {"loss", "aff"}
    torch.testing.assert_close(total, aff_loss(x["student_patch"], x["teacher_patch"], x["mask"]))
    assert torch.count_nonzero(crit.cls_center.center) == 0
    assert torch.count_nonzero(crit.patch_center.center) == 0  # L_aff uses no centre

    with pytest.raises(ValueError):
        INOLoss(5, w_out=0.0, w_mim=0.0, w_aff=0.0)
    with pytest.raises(ValueError):
        INOLoss(5)(teacher_cls=x["teacher_cls"])  # enabled term without its inputs


def test_ino_loss_without_mask_updates_only_cls_centre():
    x = ino_inputs()
    x["mask"] = None
    crit = INOLoss(5)
    total, parts = crit(**x)
    assert float(parts["mim"]) == 0.0 and float(parts["aff"]) == 0.0
    torch.testing.assert_close(total, parts["out"])
    assert torch.count_nonzero(crit.patch_center.center) == 0
    assert torch.count_nonzero(crit.cls_center.center) > 0


def test_ino_loss_gradients_reach_only_the_student():
    x = ino_inputs(requires_grad=True)
    total, parts = INOLoss(5)(**x)
    total.backward()
    for name in ("student_cls", "student_local_cls", "student_patch"):
        assert x[name].grad is not None and x[name].grad.abs().sum() > 0, name
    for name in ("teacher_cls", "teacher_patch"):
        assert x[name].grad is None, name
    assert all(not v.requires_grad for v in parts.values())


def _centre_worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        c = Centre(2, momentum=0.9)
        # rank 0 has rows [0, 0] and [2, 4]; rank 1 has one row [4, 8]; global mean [2, 4].
        rows = torch.tensor([[0.0, 0.0], [2.0, 4.0]]) if rank == 0 else torch.tensor([[4.0, 8.0]])
        c.update(rows)
        c.update(torch.zeros(0, 2))  # nobody used anything: unchanged on every rank
        if rank == 1:
            torch.save(c.center, out_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawning two processes takes ~10 s on a loaded CPU
def test_centre_update_averages_across_ranks(tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "center.pt"
    mp.spawn(_centre_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    torch.testing.assert_close(torch.load(out), torch.tensor([[0.2, 0.4]]))
