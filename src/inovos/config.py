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

from inovos.atomic import atomic_write_text
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
    views_on_device: bool = False  # build the views on the training device, not in workers


@dataclass
class ModelConfig:
    """Backbone and projection head."""

    arch: str = "vit_small"
    patch_size: int = 8
    img_size: int = 64  # INO builds its ViT with a 64-pixel grid (compat)
    drop_path_rate: float = 0.1
    out_dim: int = 4096
    norm_last_layer: bool = True
    embed_dim: int = 0  # 0: the arch's width (tests use tiny custom ViTs)
    depth: int = 0  # 0: the arch's depth
    num_heads: int = 0  # 0: the arch's heads
    head_hidden_dim: int = 2048
    head_bottleneck_dim: int = 256


@dataclass
class LossConfig:
    """Weights and temperatures of the INO objective (L_out, L_mim, L_aff and their centres)."""

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
    """AdamW, the per-iteration schedules (lr, weight decay, momentum, teacher temperature) and clipping."""

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
    fused: bool = True  # fused AdamW kernel where available (CUDA, CPU)


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
    collapse_warn_steps: int = 100  # warn once after this many near-uniform teacher steps
    deterministic: bool = False
    keep_epoch_checkpoints: bool = False  # also keep checkpoint_epochNNNN.pth per epoch
    tensorboard: bool = True
    save_views: bool = True  # a PNG of one clip's views per epoch


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
    # A ViT-Ti/8 recipe for 2 CPU cores: 80 epochs of 18 steps (1,440) on the demo's videos,
    # about an hour at 2.3-2.7 s a step on a quiet 2-core CPU (the demo trains the first
    # minutes; its teacher passes random init + 5 J&F by step 240). The 2048-wide head
    # cost as much as the ViT; with the paper's teacher temperature 0.04 the centred
    # teacher is near uniform at init (entropy ~0.97 ln K on cls tokens) and L_out / L_mim
    # then pull every output towards uniform; 0.01 gives informative targets from step 0.
    "tiny-cpu": {
        "model.arch": "vit_tiny",
        "model.patch_size": 8,
        "model.out_dim": 256,
        "model.head_hidden_dim": 512,
        "model.drop_path_rate": 0.0,
        "data.global_size": 96,
        "data.local_size": 32,
        "data.n_local": 4,
        "data.num_workers": 1,
        "loss.teacher_temp": 0.01,
        "loss.mask_prob": 1.0,  # L_mim and L_aff at every step
        "optim.clips_per_gpu": 4,
        "optim.base_lr": 2e-2,
        "optim.warmup_epochs": 1,
        "optim.epochs": 80,
        "optim.freeze_last_layer": 0,
        "optim.momentum_teacher": 0.99,  # a short run needs a teacher that keeps up
        "optim.precision": "fp32",
    },
}


# One line per key for ``inovos train --help``.
FIELD_HELP: dict[str, str] = {
    "data.source": "list file, folder of videos or folder of frame folders",
    "data.root": "prefix for relative paths in a list file (default: its folder)",
    "data.fps": "clips are resampled to this frame rate",
    "data.clip_len": "frames per clip (T)",
    "data.clips_per_video": "clips drawn per video and epoch",
    "data.frames_fps": "frame rate assumed for folders of frames",
    "data.global_size": "global crop side (one per frame)",
    "data.local_size": "local crop side",
    "data.n_local": "local crops per frame",
    "data.num_workers": "DataLoader worker processes per rank",
    "data.index_cache": "video index cache folder (default: OUTPUT/../.index-cache)",
    "data.views_on_device": "crop and augment on the training device instead of in workers",
    "model.arch": "vit_tiny | vit_small | vit_base",
    "model.patch_size": "8 or 16",
    "model.img_size": "image side the positional embedding is built for (INO: 64)",
    "model.drop_path_rate": "student stochastic depth (the teacher has none)",
    "model.out_dim": "K, prototypes of the DINO head",
    "model.norm_last_layer": "freeze the weight-norm gain of the head's last layer",
    "model.embed_dim": "token width override (0: the arch's)",
    "model.depth": "number of blocks override (0: the arch's)",
    "model.num_heads": "attention heads override (0: the arch's)",
    "model.head_hidden_dim": "DINO head MLP width",
    "model.head_bottleneck_dim": "DINO head bottleneck before the prototypes",
    "loss.w_out": "weight of L_out (cls tokens, frame pairs); 0 switches it off",
    "loss.w_mim": "weight of L_mim (masked patch tokens); 0 switches it off",
    "loss.w_aff": "weight of L_aff (patch affinities); 0 switches it off",
    "loss.teacher_temp": "teacher temperature of L_out and L_mim",
    "loss.student_temp": "student temperature of L_out and L_mim",
    "loss.aff_teacher_temp": "teacher temperature of L_aff",
    "loss.aff_student_temp": "student temperature of L_aff",
    "loss.center_momentum": "momentum of the cls and patch centres",
    "loss.mask_prob": "probability that an iteration masks patches",
    "loss.mask_ratio_min": "smallest masked fraction",
    "loss.mask_ratio_max": "largest masked fraction",
    "loss.mask_per_sample": "own mask positions per sample and frame (same count)",
    "optim.epochs": "epochs (0 .. epochs-1)",
    "optim.clips_per_gpu": "clips per step and rank",
    "optim.base_lr": "lr = base_lr * clips_per_gpu * clip_len * ranks / 1024 at the peak",
    "optim.min_lr": "final learning rate of the cosine",
    "optim.warmup_epochs": "linear lr warm-up from 0",
    "optim.weight_decay": "weight decay at the start (cosine)",
    "optim.weight_decay_end": "weight decay at the end",
    "optim.momentum_teacher": "EMA momentum at the start (cosine to 1)",
    "optim.clip_grad": "per-parameter gradient norm cap (0: none)",
    "optim.freeze_last_layer": "epochs during which the head's last layer is frozen",
    "optim.precision": "auto (bf16/fp16 on CUDA, fp32 on CPU) | bf16 | fp16 | fp32",
    "optim.fused": "fused AdamW kernel (CUDA, CPU)",
    "run.output_dir": "run folder: config.yaml, checkpoint.pth, log.jsonl, tb/, views/",
    "run.seed": "seed of weights, clips, augmentations and masks",
    "run.device": "auto | cpu | cuda",
    "run.save_every_iters": "also save every N steps (0: at epoch ends only)",
    "run.max_minutes": "stop cleanly after this many minutes of this invocation (0: none)",
    "run.max_iters": "stop cleanly after this many steps in total (0: none)",
    "run.log_every": "TensorBoard scalars and a log.jsonl step record every N steps",
    "run.collapse_warn_steps": (
        "warn once when the teacher stays near-uniform (entropy within 1% of ln K) "
        "for N consecutive steps (0: never)"
    ),
    "run.deterministic": "deterministic kernels (slower)",
    "run.keep_epoch_checkpoints": "also keep checkpoint_epochNNNN.pth at every epoch end",
    "run.tensorboard": "write TensorBoard events",
    "run.save_views": "write a PNG of one clip's views per epoch",
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
    base: dict[str, Any] | None = None,
) -> TrainConfig:
    """Defaults, then a preset, then ``base`` (a saved config as a nested dict), then a
    YAML file, then command-line overrides."""
    config = TrainConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise InovosError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        config = apply_overrides(config, PRESETS[preset])
    if base is not None:
        config = apply_overrides(config, _flatten(base))
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
    """Write the resolved config as YAML, atomically (a kill never leaves half a file)."""
    atomic_write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


__all__ = [
    "FIELD_HELP",
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
