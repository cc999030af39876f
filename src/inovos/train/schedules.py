"""Per-iteration schedules, DINO/DINOv2 style: numpy arrays indexed by iteration.

Every schedule has n = ``epochs * iters_per_epoch`` float64 entries. With W
warm-up iterations, a cosine schedule from ``peak`` to ``final`` is, exactly
as the original release computes it,

    s[0 .. W-1] = linspace(start_warmup, peak, W)       (W points, s[W-1] = peak)
    s[W + j]    = final + 0.5 * (peak - final) * (1 + cos(pi * j / (n - W)))
                                                         for j = 0 .. n-W-1

so s[W] = peak again (the warm-up's last point and the cosine's first), and the
last value s[n-1] stays slightly above ``final`` (the cosine is divided by
n - W, not n - W - 1). Without warm-up s[0] = peak. lr, weight decay and
teacher momentum all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REFERENCE_BATCH = 1024  # lr scaling: peak = base_lr * frames per step / 1024


def _warmup_iters(epochs: int, iters_per_epoch: int, warmup_epochs: float) -> int:
    if epochs <= 0 or iters_per_epoch <= 0:
        raise ValueError(
            f"schedules need epochs > 0 and iters_per_epoch > 0, got {epochs}, {iters_per_epoch}"
        )
    if not 0 <= warmup_epochs <= epochs:
        raise ValueError(f"warm-up epochs must lie in [0, epochs={epochs}], got {warmup_epochs}")
    return round(float(warmup_epochs) * iters_per_epoch)


def cosine_schedule(
    base: float,
    final: float,
    epochs: int,
    iters_per_epoch: int,
    warmup_epochs: float = 0,
    start_warmup: float = 0.0,
) -> np.ndarray:
    """Linear warm-up from ``start_warmup`` to ``base``, then cosine from ``base`` towards ``final``.

    Args:
        base: the peak: last warm-up value and first cosine value.
        final: the value the cosine heads to (reached only in the limit).
        epochs: number of epochs.
        iters_per_epoch: optimiser steps per epoch.
        warmup_epochs: warm-up length in epochs (W = round(warmup_epochs * iters_per_epoch)).
        start_warmup: value at iteration 0 when there is a warm-up.

    Returns:
        (epochs * iters_per_epoch,) float64, see the module docstring.
    """
    total = epochs * iters_per_epoch
    w = _warmup_iters(epochs, iters_per_epoch, warmup_epochs)
    warmup = np.linspace(start_warmup, base, w)
    iters = np.arange(total - w)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate([warmup, cosine])


def scaled_lr(base_lr: float, clips_per_gpu: int, clip_len: int, world_size: int) -> float:
    """Peak learning rate: base_lr * (clips_per_gpu * T * world_size) / 1024.

    Charades preset: 3e-3 * (4 * 4 * 4) / 1024 = 1.875e-4.
    """
    return base_lr * clips_per_gpu * clip_len * world_size / REFERENCE_BATCH


def lr_schedule(
    peak_lr: float,
    min_lr: float,
    epochs: int,
    iters_per_epoch: int,
    warmup_epochs: float,
) -> np.ndarray:
    """Learning rate: linspace(0, peak_lr, W) over the warm-up, then cosine towards min_lr."""
    return cosine_schedule(peak_lr, min_lr, epochs, iters_per_epoch, warmup_epochs, 0.0)


def wd_schedule(
    epochs: int, iters_per_epoch: int, base: float = 0.04, final: float = 0.4
) -> np.ndarray:
    """Weight decay: cosine from 0.04 towards 0.4, no warm-up (regularised group only)."""
    return cosine_schedule(base, final, epochs, iters_per_epoch)


def momentum_schedule(
    epochs: int, iters_per_epoch: int, base: float = 0.996, final: float = 1.0
) -> np.ndarray:
    """Teacher EMA momentum: cosine from 0.996 towards 1.0, no warm-up."""
    return cosine_schedule(base, final, epochs, iters_per_epoch)


def teacher_temp_schedule(
    epochs: int,
    iters_per_epoch: int,
    teacher_temp: float = 0.04,
    warmup_teacher_temp: float | None = None,
    warmup_epochs: float = 0,
) -> np.ndarray:
    """Teacher temperature: constant ``teacher_temp`` (INO, 0.04), or DINO's linear warm-up.

    With ``warmup_teacher_temp`` set and W warm-up iterations, s[:W] =
    linspace(warmup_teacher_temp, teacher_temp, W), then teacher_temp.
    """
    total = epochs * iters_per_epoch
    w = _warmup_iters(epochs, iters_per_epoch, warmup_epochs)
    out = np.full(total, teacher_temp, dtype=np.float64)
    if warmup_teacher_temp is not None and w > 0:
        out[:w] = np.linspace(warmup_teacher_temp, teacher_temp, w)
    return out


@dataclass(frozen=True)
class Schedules:
    """All per-iteration schedules of a run, each (epochs * iters_per_epoch,) float64."""

    lr: np.ndarray
    wd: np.ndarray
    momentum: np.ndarray
    teacher_temp: np.ndarray

    def __len__(self) -> int:
        return len(self.lr)


def build_schedules(
    *,
    base_lr: float,
    min_lr: float,
    clips_per_gpu: int,
    clip_len: int,
    world_size: int,
    epochs: int,
    iters_per_epoch: int,
    warmup_epochs: float,
    weight_decay: float = 0.04,
    weight_decay_end: float = 0.4,
    momentum_teacher: float = 0.996,
    teacher_temp: float = 0.04,
    warmup_teacher_temp: float | None = None,
    warmup_teacher_temp_epochs: float = 0,
) -> Schedules:
    """The four schedules (lr, weight decay, teacher momentum, teacher temperature) from the run's settings (lr peak scaled by ``scaled_lr``)."""
    peak = scaled_lr(base_lr, clips_per_gpu, clip_len, world_size)
    return Schedules(
        lr=lr_schedule(peak, min_lr, epochs, iters_per_epoch, warmup_epochs),
        wd=wd_schedule(epochs, iters_per_epoch, weight_decay, weight_decay_end),
        momentum=momentum_schedule(epochs, iters_per_epoch, momentum_teacher, 1.0),
        teacher_temp=teacher_temp_schedule(
            epochs, iters_per_epoch, teacher_temp, warmup_teacher_temp, warmup_teacher_temp_epochs
        ),
    )
