"""The allowed range of every numeric training-config field, checked before any work.

``check_values(config)`` raises one :class:`~inovos.errors.InovosError` naming the
first bad field and its allowed range, e.g.
``loss.teacher_temp must be > 0, got 0.0``. Cross-field rules that need the
model (crop sizes that are multiples of the patch size, even clip lengths) live
with the training builders (:func:`inovos.train.setup.check_config`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from inovos.config import TrainConfig
from inovos.errors import InovosError


@dataclass(frozen=True)
class Range:
    """A closed or half-open interval; ``None`` leaves a side unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        def num(x: float) -> str:
            return f"{x:g}"

        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{num(self.low)}, {num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {num(self.high)}"
        return "a finite number"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
UNIT = Range(0, 1)

# Every int/float field of TrainConfig (a test checks that none is missing).
FIELD_RANGES: dict[str, Range] = {
    "data.fps": POSITIVE,
    "data.clip_len": Range(2),
    "data.clips_per_video": AT_LEAST_ONE,
    "data.frames_fps": POSITIVE,
    "data.global_size": AT_LEAST_ONE,
    "data.local_size": AT_LEAST_ONE,
    "data.n_local": NON_NEGATIVE,
    "data.num_workers": NON_NEGATIVE,
    "model.patch_size": AT_LEAST_ONE,
    "model.img_size": AT_LEAST_ONE,
    "model.drop_path_rate": Range(0, 1, high_open=True),
    "model.out_dim": AT_LEAST_ONE,
    "model.embed_dim": NON_NEGATIVE,
    "model.depth": NON_NEGATIVE,
    "model.num_heads": NON_NEGATIVE,
    "model.head_hidden_dim": AT_LEAST_ONE,
    "model.head_bottleneck_dim": AT_LEAST_ONE,
    "loss.w_out": NON_NEGATIVE,
    "loss.w_mim": NON_NEGATIVE,
    "loss.w_aff": NON_NEGATIVE,
    "loss.teacher_temp": POSITIVE,
    "loss.student_temp": POSITIVE,
    "loss.aff_teacher_temp": POSITIVE,
    "loss.aff_student_temp": POSITIVE,
    "loss.center_momentum": UNIT,
    "loss.mask_prob": UNIT,
    "loss.mask_ratio_min": UNIT,
    "loss.mask_ratio_max": UNIT,
    "optim.epochs": AT_LEAST_ONE,
    "optim.clips_per_gpu": AT_LEAST_ONE,
    "optim.base_lr": NON_NEGATIVE,
    "optim.min_lr": NON_NEGATIVE,
    "optim.warmup_epochs": NON_NEGATIVE,
    "optim.weight_decay": NON_NEGATIVE,
    "optim.weight_decay_end": NON_NEGATIVE,
    "optim.momentum_teacher": UNIT,
    "optim.clip_grad": NON_NEGATIVE,
    "optim.freeze_last_layer": NON_NEGATIVE,
    "run.seed": NON_NEGATIVE,
    "run.save_every_iters": NON_NEGATIVE,
    "run.max_minutes": NON_NEGATIVE,
    "run.max_iters": NON_NEGATIVE,
    "run.log_every": NON_NEGATIVE,
    "run.collapse_warn_steps": NON_NEGATIVE,
}


def value_of(config: TrainConfig, key: str) -> Any:
    """The value of a dotted ``section.field`` key."""
    section, _, name = key.partition(".")
    return getattr(getattr(config, section), name)


def numeric_keys(config: TrainConfig) -> list[str]:
    """Every int/float (not bool) field of the config, as dotted keys."""
    keys = []
    for section in fields(config):
        values = getattr(config, section.name)
        for f in fields(values):
            value = getattr(values, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                keys.append(f"{section.name}.{f.name}")
    return keys


def check_values(config: TrainConfig) -> None:
    """Reject a numeric field outside its range, an inverted mask-ratio range, no active loss.

    Raises:
        InovosError: one line naming the first bad field and what it allows.
    """
    for key, allowed in FIELD_RANGES.items():
        value = value_of(config, key)
        if value not in allowed:
            raise InovosError(f"{key} must be {allowed}, got {value!r}")
    loss, optim = config.loss, config.optim
    if loss.mask_ratio_min > loss.mask_ratio_max:
        raise InovosError(
            f"loss.mask_ratio_min must be <= loss.mask_ratio_max, got "
            f"{loss.mask_ratio_min} > {loss.mask_ratio_max}"
        )
    if loss.w_out == loss.w_mim == loss.w_aff == 0:
        raise InovosError("loss.w_out, loss.w_mim and loss.w_aff are all 0: nothing to learn")
    if optim.warmup_epochs > optim.epochs:
        raise InovosError(
            f"optim.warmup_epochs must be <= optim.epochs ({optim.epochs}), "
            f"got {optim.warmup_epochs}"
        )


__all__ = ["FIELD_RANGES", "Range", "check_values", "numeric_keys", "value_of"]
