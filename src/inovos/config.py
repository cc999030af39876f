"""Typed training configuration: one complete default, small presets, ``key=value`` overrides.

The schema is a tree of dataclasses. A preset is a dict of dotted overrides applied
on top of the defaults; the command line adds more overrides; the resolved config
is written beside the checkpoints (YAML) and stored inside every checkpoint as
plain data.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inovos.errors import InovosError


@dataclass
class DataConfig:
    """Where clips come from and how each frame is turned into views."""

    source: str = ""  # list file, folder of videos or folder of frame folders
    root: str = ""  # prefix for relative paths of a list file (default: its folder)
    fps: float = 8.0
    clip_len: int = 4
    clips_per_video: int = 5
    frames_fps: float = 30.0  # frame rate assumed for folders of frames
    global_size: int = 224
    local_size: int = 64
    n_local: int = 8
    num_workers: int = 4
    index_cache: str = ""  # default: <output_dir>/../.index-cache


@dataclass
class ModelConfig:
    """Backbone and projection head."""

    arch: str = "vit_small"
    patch_size: int = 8
    img_size: int = 64  # INO builds its ViT with a 64-pixel grid (compat)
    drop_path_rate: float = 0.1
    out_dim: int = 4096
    norm_last_layer: bool = True


@dataclass
class LossConfig:
    """Weights and temperatures of the INO objective (SPEC 3)."""

    w_out: float = 1.0
    w_mim: float = 1.0
    w_aff: float = 1.0
    teacher_temp: float = 0.04
    student_temp: float = 0.1
    aff_teacher_temp: float = 0.04
    aff_student_temp: float = 0.1
    center_momentum: float = 0.9
    mask_prob: float = 0.5
    mask_ratio_min: float = 0.1
    mask_ratio_max: float = 0.5
    mask_per_sample: bool = False


@dataclass
class OptimConfig:
    """AdamW, schedules and clipping (SPEC 4)."""

    epochs: int = 25
    clips_per_gpu: int = 4
    base_lr: float = 3e-3
    min_lr: float = 1e-6
    warmup_epochs: int = 5
    weight_decay: float = 0.04
    weight_decay_end: float = 0.4
    momentum_teacher: float = 0.996
    clip_grad: float = 3.0
    freeze_last_layer: int = 1
    precision: str = "auto"  # auto | bf16 | fp16 | fp32


@dataclass
class RunConfig:
    """Output, seeding, checkpoint cadence and budgets."""

    output_dir: str = "runs/ino"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    save_every_iters: int = 0  # 0: only at the end of each epoch
    max_minutes: float = 0.0  # 0: no time budget
    max_iters: int = 0  # 0: no iteration budget
    log_every: int = 10
    deterministic: bool = False


@dataclass
class TrainConfig:
    """Everything a training run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


PRESETS: dict[str, dict[str, Any]] = {
    # Paper, Charades: 4 GPUs x 4 clips, base lr 3e-3, 5 warm-up epochs, 25 epochs.
    "charades-vits8": {
        "optim.base_lr": 3e-3,
        "optim.warmup_epochs": 5,
        "optim.epochs": 25,
        "optim.clips_per_gpu": 4,
    },
    # Paper, Kinetics-400: 8 GPUs x 4 clips, base lr 3e-4, 2 warm-up epochs, 25 epochs.
    "kinetics400-vits8": {
        "optim.base_lr": 3e-4,
        "optim.warmup_epochs": 2,
        "optim.epochs": 25,
        "optim.clips_per_gpu": 4,
    },
    # A small ViT that learns something on 2 CPU cores in minutes.
    "tiny-cpu": {
        "model.arch": "vit_tiny",
        "model.patch_size": 8,
        "model.out_dim": 1024,
        "model.drop_path_rate": 0.0,
        "data.global_size": 96,
        "data.local_size": 32,
        "data.n_local": 4,
        "data.num_workers": 1,
        "optim.clips_per_gpu": 4,
        "optim.base_lr": 2e-2,
        "optim.warmup_epochs": 1,
        "optim.epochs": 10,
        "optim.freeze_last_layer": 0,
        "optim.precision": "fp32",
    },
}


def _convert(value: Any, annotation: Any, key: str) -> Any:
    target = {"int": int, "float": float, "str": str, "bool": bool}.get(
        annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    )
    if target is None:
        raise InovosError(f"config key {key!r} cannot be set from the command line")
    if target is bool and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise InovosError(f"config key {key!r} needs true/false, got {value!r}")
        return lowered in ("true", "1", "yes")
    try:
        return target(value)
    except (TypeError, ValueError):
        raise InovosError(f"config key {key!r} needs a {target.__name__}, got {value!r}") from None


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Return a copy of ``config`` with dotted ``section.field`` overrides applied."""
    result = dataclasses.replace(config)
    for key, value in overrides.items():
        section_name, _, field_name = key.partition(".")
        section = getattr(result, section_name, None)
        is_section = dataclasses.is_dataclass(section) and not isinstance(section, type)
        if section is None or not is_section or not field_name:
            raise InovosError(f"unknown config key {key!r} (expected section.field)")
        fields = {f.name: f for f in dataclasses.fields(section)}
        if field_name not in fields:
            known = ", ".join(sorted(fields))
            raise InovosError(f"unknown config key {key!r}; {section_name} has: {known}")
        hints = typing.get_type_hints(type(section))
        new_section = dataclasses.replace(
            section,
            **{field_name: _convert(value, hints[field_name], key)},
        )
        setattr(result, section_name, new_section)
    return result


def parse_overrides(items: list[str]) -> dict[str, str]:
    """Parse ``["optim.base_lr=1e-3", ...]`` into a dict; InovosError on malformed items."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InovosError(f"override {item!r} is not of the form section.field=value")
        parsed[key.strip()] = value.strip()
    return parsed


def resolve_config(
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | Path | None = None,
) -> TrainConfig:
    """Defaults, then a preset, then a YAML file, then command-line overrides."""
    config = TrainConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise InovosError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        config = apply_overrides(config, PRESETS[preset])
    if config_file is not None:
        config = apply_overrides(config, _flatten(load_yaml(config_file)))
    if overrides:
        config = apply_overrides(config, parse_overrides(overrides))
    return config


def _flatten(tree: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, values in tree.items():
        if not isinstance(values, dict):
            raise InovosError(f"config section {section!r} must be a mapping")
        for name, value in values.items():
            flat[f"{section}.{name}"] = value
    return flat


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file written by :func:`save_yaml` (or by hand)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise InovosError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise InovosError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise InovosError(f"{path}: a config file must be a mapping of sections")
    return data


def config_to_dict(config: TrainConfig) -> dict[str, dict[str, Any]]:
    """Plain nested dict (safe to store in checkpoints and YAML)."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict`."""
    return apply_overrides(TrainConfig(), _flatten(data))


def save_yaml(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config_to_dict(config), f, sort_keys=False)


__all__ = [
    "PRESETS",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_yaml",
    "parse_overrides",
    "resolve_config",
    "save_yaml",
]
