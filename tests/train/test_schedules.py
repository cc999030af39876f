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
    """Plain per-iteration loop of the documented formula."""
    total, w = epochs * iters, warmup_epochs * iters
    n = total - w
    out = []
    for it in range(total):
        if it < w:
            out.append(start + (base - start) * it / w)
        else:
            j = it - w
            out.append(final + 0.5 * (base - final) * (1 + math.cos(math.pi * j / (n - 1))))
    return np.array(out)


def test_cosine_schedule_key_values():
    s = cosine_schedule(1.0, 0.0, epochs=3, iters_per_epoch=10, warmup_epochs=1, start_warmup=0.5)
    assert s.dtype == np.float64 and s.shape == (30,)
    assert s[0] == 0.5  # first
    assert s[5] == pytest.approx(0.75)  # half-way through the warm-up
    assert s[10] == 1.0  # warm-up end: the peak
    assert s[-1] == 0.0  # last: final exactly
    assert np.all(np.diff(s[:11]) > 0) and np.all(np.diff(s[10:]) < 0)
    np.testing.assert_allclose(s, ref_cosine(1.0, 0.0, 3, 10, 1, 0.5), rtol=0, atol=1e-15)


def test_cosine_schedule_without_warmup_and_midpoint():
    s = cosine_schedule(2.0, 1.0, epochs=1, iters_per_epoch=5)
    np.testing.assert_allclose(
        s,
        [
            2.0,
            1.0 + 0.5 * (1 + math.cos(math.pi / 4)),
            1.5,
            1.0 + 0.5 * (1 + math.cos(3 * math.pi / 4)),
            1.0,
        ],
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
    lr = lr_schedule(peak, 1e-6, epochs=25, iters_per_epoch=4, warmup_epochs=5)
    assert len(lr) == 100
    assert lr[0] == 0.0 and lr[20] == pytest.approx(peak) and lr[-1] == 1e-6
    assert lr.max() == pytest.approx(peak)


def test_wd_momentum_and_teacher_temp():
    wd = wd_schedule(epochs=3, iters_per_epoch=7)
    assert wd[0] == 0.04 and wd[-1] == 0.4 and np.all(np.diff(wd) > 0)
    mom = momentum_schedule(epochs=3, iters_per_epoch=7)
    assert mom[0] == 0.996 and mom[-1] == 1.0 and np.all(mom <= 1.0)
    tt = teacher_temp_schedule(epochs=3, iters_per_epoch=7)
    assert np.all(tt == 0.04) and len(tt) == 21
    tt = teacher_temp_schedule(3, 7, teacher_temp=0.04, warmup_teacher_temp=0.02, warmup_epochs=2)
    assert tt[0] == 0.02 and tt[7] == pytest.approx(0.03) and tt[14] == 0.04 and tt[-1] == 0.04


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
    assert len(s) == 10 and s.lr[5] == pytest.approx(1.875e-4) and s.lr[-1] == 1e-6
    assert s.wd[0] == 0.04 and s.momentum[-1] == pytest.approx(1.0) and s.teacher_temp[3] == 0.04
