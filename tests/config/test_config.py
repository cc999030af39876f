"""Config schema: presets, overrides, YAML round trip, clear errors."""

from __future__ import annotations

import pytest

from inovos.config import (
    PRESETS,
    config_from_dict,
    config_to_dict,
    load_yaml,
    resolve_config,
    save_yaml,
)
from inovos.errors import InovosError


def test_paper_presets_match_the_paper() -> None:
    charades = resolve_config("charades-vits8")
    assert (charades.optim.base_lr, charades.optim.warmup_epochs, charades.optim.epochs) == (
        3e-3,
        5,
        25,
    )
    assert charades.model.arch == "vit_small" and charades.model.patch_size == 8
    assert charades.model.img_size == 64 and charades.model.out_dim == 4096
    kinetics = resolve_config("kinetics400-vits8")
    assert (kinetics.optim.base_lr, kinetics.optim.warmup_epochs) == (3e-4, 2)


def test_overrides_are_typed_and_win_over_presets() -> None:
    config = resolve_config("tiny-cpu", ["optim.epochs=3", "run.deterministic=yes", "loss.w_aff=0"])
    assert config.optim.epochs == 3
    assert config.run.deterministic is True
    assert config.loss.w_aff == 0.0 and isinstance(config.loss.w_aff, float)
    assert config.model.arch == "vit_tiny"


def test_yaml_round_trip(tmp_path) -> None:
    config = resolve_config("tiny-cpu", ["data.source=/x/list.txt"])
    path = tmp_path / "config.yaml"
    save_yaml(config, path)
    assert config_from_dict(load_yaml(path)) == config
    assert resolve_config(config_file=path) == config
    assert config_from_dict(config_to_dict(config)) == config


@pytest.mark.parametrize(
    "overrides",
    [["optim.nope=1"], ["nope.x=1"], ["optim.epochs=many"], ["run.deterministic=maybe"], ["x"]],
)
def test_bad_overrides_raise_clear_errors(overrides: list[str]) -> None:
    with pytest.raises(InovosError):
        resolve_config(None, overrides)


def test_unknown_preset() -> None:
    with pytest.raises(InovosError, match="unknown preset"):
        resolve_config("imagenet")
    assert set(PRESETS) >= {"charades-vits8", "kinetics400-vits8", "tiny-cpu"}


def test_every_key_has_help() -> None:
    import dataclasses

    from inovos.config import FIELD_HELP, TrainConfig

    config = TrainConfig()
    keys = {
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(config)
        for f in dataclasses.fields(getattr(config, section.name))
    }
    assert keys == set(FIELD_HELP)
