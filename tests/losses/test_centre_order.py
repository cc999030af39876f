"""INOLoss over consecutive steps against a plain reference written from the centre rule.

The rule: the cls centre moves right after each frame pair, so pair (1, 3) is
scored with the centre pair (0, 2) just moved; the patch centre moves right after
each frame with a mask, so the next masked frame is scored with the moved centre;
frames without a mask neither use nor move it. Every move is
c <- m c + (1 - m) mean(teacher outputs of that use), over all ranks.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inovos.losses import INOLoss

DT = torch.float64
K, TT, TS, M = 6, 0.05, 0.1, 0.9
WEIGHTS = {"out": 1.0, "mim": 0.7, "aff": 1.3}
NO_AFF = {"out": 1.0, "mim": 0.7, "aff": 0.0}  # L_aff needs the same mask count in every frame


def ce(q, logp):
    return -(q * logp).sum(-1)


def ref_step(x, c_cls, c_patch, weights, tt=TT, ts=TS, m=M):
    """One step of the objective by loops, moving each centre right after each use."""
    sg, sl, tg, sp, tp, mask = (x[k] for k in ("sg", "sl", "tg", "sp", "tp", "mask"))
    t = tg.shape[0]
    pair_losses = []
    for a, b in [(f, f + t // 2) for f in range(t // 2)]:
        views = [(a, True, sg[a]), (b, True, sg[b])]
        views += [(f, False, sl[f, i]) for f in (a, b) for i in range(sl.shape[1])]
        terms = []
        for frame in (a, b):
            q = F.softmax((tg[frame] - c_cls) / tt, -1)  # (B, K) with the current centre
            for v_frame, is_global, s in views:
                if not (is_global and v_frame == frame):
                    terms.append(ce(q, F.log_softmax(s / ts, -1)).mean())
        pair_losses.append(sum(terms) / len(terms))
        c_cls = m * c_cls + (1 - m) * tg[[a, b]].reshape(-1, K).mean(0, keepdim=True)
    out = sum(pair_losses) / len(pair_losses)

    frame_losses = []
    for f in range(t):
        if mask is None or not mask[f].any():
            continue  # no use, no move
        used = tp[f][mask[f]]  # (B*M, K)
        q = F.softmax((used - c_patch) / tt, -1)
        frame_losses.append(ce(q, F.log_softmax(sp[f][mask[f]] / ts, -1)).mean())
        c_patch = m * c_patch + (1 - m) * used.mean(0, keepdim=True)
    mim = sum(frame_losses) / len(frame_losses) if frame_losses else sg.new_zeros(())

    rows = []
    if weights["aff"] > 0 and mask is not None and mask.any():
        for i in range(sp.shape[1]):
            for f in range(t - 1):
                xs = [F.normalize(sp[g, i][mask[g, i]], dim=-1) for g in (f, f + 1)]
                xt = [F.normalize(tp[g, i][mask[g, i]], dim=-1) for g in (f, f + 1)]
                for n in range(xs[0].shape[0]):
                    a_s = torch.stack([xs[0][n] @ y for y in xs[1]])
                    a_t = torch.stack([xt[0][n] @ y for y in xt[1]])
                    rows.append(ce(F.softmax(a_t / 0.04, -1), F.log_softmax(a_s / 0.1, -1)))
    aff = sum(rows) / len(rows) if rows else sg.new_zeros(())
    terms = {"out": out, "mim": mim, "aff": aff}
    total = sum(weights[k] * v for k, v in terms.items())
    return total, terms, c_cls, c_patch


def make_inputs(seed, t=4, b=4, n=5, n_local=3, masked=True, uneven=False):
    """Student outputs require grad; teacher outputs are constants; mask (T, B, N) or None."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g, dtype=DT)).requires_grad_(False)

    x = {
        "tg": rand(t, b, K, scale=2.0) + 1.0,  # an offset so the centres move visibly
        "sg": rand(t, b, K),
        "sl": rand(t, n_local, b, K),
        "tp": rand(t, b, n, K, scale=2.0) - 0.5,
        "sp": rand(t, b, n, K),
    }
    for key in ("sg", "sl", "sp"):
        x[key].requires_grad_(True)
    x["mask"] = None
    if masked:
        mask = torch.zeros(t, b, n, dtype=torch.bool)
        for f in range(t):
            for i in range(b):
                mask[f, i, torch.randperm(n, generator=g)[:2]] = True
        if uneven:  # a frame without any mask: neither used nor moving the centre
            mask[1] = False
        x["mask"] = mask
    return x


def loss_inputs(x):
    return {
        "teacher_cls": x["tg"],
        "student_cls": x["sg"],
        "student_local_cls": x["sl"],
        "teacher_patch": x["tp"],
        "student_patch": x["sp"],
        "mask": x["mask"],
        "teacher_temp": TT,
    }


def make_loss(weights=WEIGHTS):
    crit = INOLoss(K, w_out=weights["out"], w_mim=weights["mim"], w_aff=weights["aff"])
    return crit.to(DT)


STEPS = [{"masked": True}, {"masked": True}, {"masked": False}, {"masked": True}]
UNEVEN = [{"masked": True}, {"masked": True, "uneven": True}, {"masked": False}, {"masked": True}]


@pytest.mark.parametrize(("weights", "steps"), [(WEIGHTS, STEPS), (NO_AFF, UNEVEN)])
def test_per_use_centre_order_matches_the_loop_reference_over_steps(weights, steps):
    crit = make_loss(weights)
    c_cls = torch.zeros(1, K, dtype=DT)
    c_patch = torch.zeros(1, K, dtype=DT)
    for i, kind in enumerate(steps):
        x = make_inputs(i, **kind)
        ref_total, ref_terms, c_cls, c_patch = ref_step(x, c_cls, c_patch, weights)
        total, parts = crit(**loss_inputs(x))
        for name, value in ref_terms.items():
            if weights[name] == 0:
                assert name not in parts
                continue
            torch.testing.assert_close(parts[name], value.detach(), rtol=0, atol=1e-10)
        torch.testing.assert_close(total, ref_total, rtol=0, atol=1e-10)
        torch.testing.assert_close(crit.cls_center.center, c_cls, rtol=0, atol=1e-10)
        torch.testing.assert_close(crit.patch_center.center, c_patch, rtol=0, atol=1e-10)
        students = [x["sg"], x["sl"], x["sp"]]
        got = torch.autograd.grad(total, students, allow_unused=True, materialize_grads=True)
        want = torch.autograd.grad(ref_total, students, allow_unused=True, materialize_grads=True)
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    # The order matters: the centres moved away from an update-once-at-the-end rule.
    assert float(crit.cls_center.center.abs().max()) > 0.1


def test_first_step_mim_already_sees_the_first_masked_frames_centre():
    x = make_inputs(0)
    _, parts = make_loss()(**loss_inputs(x))
    zero = torch.zeros(1, K, dtype=DT)
    _, terms, _, _ = ref_step(x, zero, zero, WEIGHTS)
    # With the old rule (every frame scored with the zero centre) the value differs.
    tp, sp, mask = x["tp"], x["sp"], x["mask"]
    frames = [
        ce(F.softmax(tp[f][mask[f]] / TT, -1), F.log_softmax(sp[f][mask[f]] / TS, -1))
        for f in range(4)
    ]
    stale = torch.stack([v.mean() for v in frames]).mean()
    assert abs(float(parts["mim"]) - float(terms["mim"].detach())) < 1e-10
    assert abs(float(parts["mim"]) - float(stale.detach())) > 1e-3


def test_compute_leaves_the_centres_alone_until_commit():
    crit = make_loss()
    crit(**loss_inputs(make_inputs(0)))
    before = [crit.cls_center.center.clone(), crit.patch_center.center.clone()]
    result = crit.compute(**loss_inputs(make_inputs(1)))
    assert torch.equal(crit.cls_center.center, before[0])
    assert torch.equal(crit.patch_center.center, before[1])
    assert result.cls_center is not None and not torch.equal(result.cls_center, before[0])
    crit.commit(result)
    assert torch.equal(crit.cls_center.center, result.cls_center)
    assert torch.equal(crit.patch_center.center, result.patch_center)


# ----------------------------------------------------------------------------- 2 gloo ranks
def _rank_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        crit = make_loss()
        record = []
        for i, kind in enumerate(STEPS):
            full = make_inputs(i, **kind)
            x = {k: _rows(k, v, rank, world) for k, v in full.items()}
            for key in ("sg", "sl", "sp"):
                x[key] = x[key].detach().requires_grad_(True)
            total, parts = crit(**loss_inputs(x))
            grads = torch.autograd.grad(
                total, [x["sg"], x["sl"], x["sp"]], allow_unused=True, materialize_grads=True
            )
            record.append(
                {
                    "parts": {k: v.clone() for k, v in parts.items()},
                    "grads": [g.clone() for g in grads],
                    "cls": crit.cls_center.center.clone(),
                    "patch": crit.patch_center.center.clone(),
                }
            )
        torch.save(record, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _rows(name, v, rank, world):
    """This rank's clips: the batch dim is 1 for (T, B, ...) and 2 for the locals (T, L, B, K)."""
    if v is None:
        return None
    dim = 2 if name == "sl" else 1
    b = v.shape[dim] // world
    return v.narrow(dim, rank * b, b)


@pytest.mark.slow  # spawning two processes takes ~10 s on a loaded CPU
def test_two_gloo_ranks_match_one_process_on_the_concatenated_batch(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_rank_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    crit = make_loss()
    for i, kind in enumerate(STEPS):
        x = make_inputs(i, **kind)
        total, parts = crit(**loss_inputs(x))
        grads = torch.autograd.grad(
            total, [x["sg"], x["sl"], x["sp"]], allow_unused=True, materialize_grads=True
        )
        for r, record in enumerate(ranks):
            step = record[i]
            torch.testing.assert_close(step["cls"], crit.cls_center.center, rtol=0, atol=1e-10)
            torch.testing.assert_close(step["patch"], crit.patch_center.center, rtol=0, atol=1e-10)
            # Equal clips per rank: the global loss is the mean of the ranks' losses, and
            # its gradient w.r.t. a rank's rows is that rank's gradient / world size.
            for name, g_rank, g_full in zip(("sg", "sl", "sp"), step["grads"], grads, strict=True):
                want = _rows(name, g_full, r, 2)
                torch.testing.assert_close(g_rank / 2, want, rtol=0, atol=1e-10)
        for name in ("loss", "out", "mim", "aff"):
            mean = (ranks[0][i]["parts"][name] + ranks[1][i]["parts"][name]) / 2
            torch.testing.assert_close(mean, parts[name], rtol=0, atol=1e-10)
