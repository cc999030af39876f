"""Every numeric config field is range-checked by ``inovos train`` before any work."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from inovos.cli import main as cli_main
from inovos.config import TrainConfig
from inovos.config_check import FIELD_RANGES, Range, numeric_keys


def _bad_values(key: str, allowed: Range) -> list[str]:
    """Values just outside the range on each bounded side, and NaN for a float field."""
    is_float = isinstance(
        getattr(getattr(TrainConfig(), key.split(".")[0]), key.split(".")[1]), float
    )
    bad = []
    if allowed.low is not None:
        below = allowed.low if allowed.low_open else allowed.low - (0.5 if is_float else 1)
        bad.append(repr(below) if is_float else str(int(below)))
    if allowed.high is not None:
        above = allowed.high if allowed.high_open else allowed.high + (0.5 if is_float else 1)
        bad.append(repr(above) if is_float else str(int(above)))
    if is_float:
        bad.append("nan")
    return bad


FIELD_CASES = [
    (f"{key}={value}", key, str(allowed))
    for key, allowed in FIELD_RANGES.items()
    for value in _bad_values(key, allowed)
]
# The cases users met, and the rules that tie fields together.
NAMED_CASES = [
    ("data.global_size=0", "data.global_size", ">= 1"),
    ("model.out_dim=0", "model.out_dim", ">= 1"),
    ("data.num_workers=-1", "data.num_workers", ">= 0"),
    ("loss.teacher_temp=-0.04", "loss.teacher_temp", "> 0"),
    ("loss.aff_student_temp=0", "loss.aff_student_temp", "> 0"),
    ("loss.center_momentum=1.1", "loss.center_momentum", "in [0, 1]"),
    ("optim.momentum_teacher=-0.1", "optim.momentum_teacher", "in [0, 1]"),
    ("optim.base_lr=-1e-3", "optim.base_lr", ">= 0"),
    ("run.max_minutes=inf", "run.max_minutes", ">= 0"),
    ("loss.mask_ratio_max=1.5", "loss.mask_ratio_max", "in [0, 1]"),
    (
        "loss.mask_ratio_min=0.6 loss.mask_ratio_max=0.4",
        "loss.mask_ratio_min",
        "<= loss.mask_ratio_max",
    ),
    ("loss.w_out=0 loss.w_mim=0 loss.w_aff=0", "loss.w_out, loss.w_mim and loss.w_aff", "all 0"),
    ("optim.warmup_epochs=6 optim.epochs=5", "optim.warmup_epochs", "<= optim.epochs (5)"),
]


def test_every_numeric_field_has_a_range() -> None:
    assert sorted(FIELD_RANGES) == sorted(numeric_keys(TrainConfig()))


def test_the_defaults_and_presets_are_in_range() -> None:
    from inovos.config import PRESETS, resolve_config
    from inovos.config_check import check_values

    for preset in [None, *PRESETS]:
        check_values(resolve_config(preset))


@pytest.mark.parametrize(("overrides", "key", "allowed"), FIELD_CASES + NAMED_CASES)
def test_a_bad_value_is_one_line_and_nothing_is_written(
    tmp_path: Path, capsys, overrides: str, key: str, allowed: str
) -> None:
    videos = tmp_path / "videos.txt"
    videos.write_text("a.mp4\n")
    out = tmp_path / "run"
    args = ["train", "--preset", "tiny-cpu", "--data", str(videos), "--output", str(out)]
    assert cli_main([*args, "run.device=cpu", *overrides.split()]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"inovos train: error: {key} ")
    assert allowed in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos.txt"]


def test_ranges_read_as_written() -> None:
    assert str(Range(0, 1)) == "in [0, 1]" and str(Range(0, 1, high_open=True)) == "in [0, 1)"
    assert str(Range(0, low_open=True)) == "> 0" and str(Range(2)) == ">= 2"
    assert 0.5 in Range(0, 1) and 1 not in Range(0, 1, high_open=True)
    assert math.nan not in Range() and math.inf not in Range(0) and -1 not in Range(0)
