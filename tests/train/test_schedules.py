"""Per-iteration schedules: first, warm-up-end and last values, against hand numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inovos.train.schedules import (
    build_schedules,
    cosine_schedule,
    lr_schedule,
    momentum_schedule,
    scaled_lr,
    teacher_temp_schedule,
    wd_schedule,
)


def ref_cosine(base, final, epochs, iters, warmup_epochs, start):
    """Plain per-iteration loop of the rule: linspace warm-up, cosine over j / (n - W)."""
    total, w = epochs * iters, warmup_epochs * iters
    out = []
    for it in range(total):
        if it < w:  # W evenly spaced points from start to base, both included
            out.append(start + (base - start) * it / (w - 1) if w > 1 else start)
        else:
            j = it - w
            out.append(final + 0.5 * (base - final) * (1 + math.cos(math.pi * j / (total - w))))
    return np.array(out)


def test_cosine_schedule_key_values():
    # n = 30, W = 10, peak 1, final 0, warm-up from 0.5.
    s = cosine_schedule(1.0, 0.0, epochs=3, iters_per_epoch=10, warmup_epochs=1, start_warmup=0.5)
    assert s.dtype == np.float64 and s.shape == (30,)
    assert s[0] == 0.5  # index 0: the warm-up start
    assert s[1] == pytest.approx(0.5 + 0.5 / 9, abs=1e-15)  # W points: steps of 1/(W-1)
    assert s[9] == 1.0  # index W-1: the warm-up's last point is the peak
    assert s[10] == 1.0  # index W: j = 0 of the cosine, the peak again
    # index n-1: j = 19 of n - W = 20, 0.5 * (1 + cos(19 pi / 20)) = 0.5 * (1 - 0.9876883406)
    assert s[29] == pytest.approx(0.0061558297024311, abs=1e-15)
    assert s[29] > 0.0  # stays above final
    assert np.all(np.diff(s[:10]) > 0) and np.all(np.diff(s[10:]) < 0)
    np.testing.assert_allclose(s, ref_cosine(1.0, 0.0, 3, 10, 1, 0.5), rtol=0, atol=1e-15)


def test_cosine_schedule_without_warmup_and_midpoint():
    s = cosine_schedule(2.0, 1.0, epochs=1, iters_per_epoch=4)  # n = 4, j / 4
    np.testing.assert_allclose(
        s,
        [
            2.0,
            1.0 + 0.5 * (1 + math.cos(math.pi / 4)),
            1.5,
            1.0 + 0.5 * (1 + math.cos(3 * math.pi / 4)),
        ],
        rtol=0,
        atol=1e-15,
    )


def test_cosine_schedule_rejects_bad_lengths():
    with pytest.raises(ValueError):
        cosine_schedule(1.0, 0.0, epochs=2, iters_per_epoch=3, warmup_epochs=3)
    with pytest.raises(ValueError):
        cosine_schedule(1.0, 0.0, epochs=0, iters_per_epoch=3)


def test_lr_peak_and_schedule():
    peak = scaled_lr(3e-3, clips_per_gpu=4, clip_len=4, world_size=4)  # Charades preset
    assert peak == pytest.approx(1.875e-4, rel=1e-12)
    assert scaled_lr(3e-4, 4, 4, 8) == pytest.approx(3.75e-5, rel=1e-12)  # Kinetics preset
    lr = lr_schedule(peak, 1e-6, epochs=25, iters_per_epoch=4, warmup_epochs=5)  # W 20, n 100
    assert len(lr) == 100
    assert lr[0] == 0.0
    assert lr[1] == pytest.approx(1.875e-4 / 19, rel=1e-12)
    assert lr[19] == pytest.approx(1.875e-4, rel=1e-12)  # W-1: peak
    assert lr[20] == pytest.approx(1.875e-4, rel=1e-12)  # W: peak
    # n-1: j = 79 of 80: 1e-6 + 0.5 * 1.865e-4 * (1 + cos(79 pi / 80)), cos = -0.99922903
    assert lr[99] == pytest.approx(1e-6 + 0.5 * 1.865e-4 * (1 - 0.9992290362407229), rel=1e-12)
    assert lr[99] == pytest.approx(1.07189237e-6, rel=1e-8)
    assert lr.max() == pytest.approx(peak)
    np.testing.assert_allclose(lr, ref_cosine(peak, 1e-6, 25, 4, 5, 0.0), rtol=1e-15, atol=0)


def test_wd_momentum_and_teacher_temp():
    wd = wd_schedule(epochs=3, iters_per_epoch=7)  # n = 21, no warm-up: j / 21
    # index 0 computed as final + (peak - final): 0.04 up to rounding, as the original
    assert wd[0] == pytest.approx(0.04, abs=1e-15) and np.all(np.diff(wd) > 0)
    assert wd[-1] == pytest.approx(0.4 + 0.5 * (0.04 - 0.4) * (1 + math.cos(math.pi * 20 / 21)))
    assert wd[-1] == pytest.approx(0.39798955, abs=1e-8) and wd[-1] < 0.4
    mom = momentum_schedule(epochs=3, iters_per_epoch=7)
    assert mom[0] == 0.996 and np.all(mom < 1.0)
    assert mom[-1] == pytest.approx(1.0 - 0.002 * (1 + math.cos(math.pi * 20 / 21)), abs=1e-15)
    assert mom[-1] == pytest.approx(0.99997766, abs=1e-8)
    np.testing.assert_allclose(mom, ref_cosine(0.996, 1.0, 3, 7, 0, 0.0), rtol=0, atol=1e-15)
    tt = teacher_temp_schedule(epochs=3, iters_per_epoch=7)
    assert np.all(tt == 0.04) and len(tt) == 21
    tt = teacher_temp_schedule(3, 7, teacher_temp=0.04, warmup_teacher_temp=0.02, warmup_epochs=2)
    assert tt[0] == 0.02 and tt[13] == 0.04 and tt[14] == 0.04 and tt[-1] == 0.04
    assert tt[1] == pytest.approx(0.02 + 0.02 / 13)  # linspace over the 14 warm-up steps


def test_build_schedules():
    s = build_schedules(
        base_lr=3e-3,
        min_lr=1e-6,
        clips_per_gpu=4,
        clip_len=4,
        world_size=4,
        epochs=2,
        iters_per_epoch=5,
        warmup_epochs=1,
    )
    assert len(s) == 10 and s.lr[4] == pytest.approx(1.875e-4) and s.lr[5] == s.lr[4]
    assert s.lr[-1] == pytest.approx(1e-6 + 0.5 * 1.865e-4 * (1 + math.cos(math.pi * 4 / 5)))
    assert (
        s.wd[0] == pytest.approx(0.04, abs=1e-15)
        and s.momentum[-1] < 1.0
        and s.teacher_temp[3] == 0.04
    )
