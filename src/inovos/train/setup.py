"""Builders: turn a :class:`~inovos.config.TrainConfig` into the objects a run needs.

Only these builders read the config; the modules they build take explicit arguments.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from inovos.clips.dataset import ClipDataset, collate_clips
from inovos.clips.sampling import ClipSampler
from inovos.clips.video_index import VideoIndex, build_video_index
from inovos.clips.views import BatchedViews, CpuViews, ViewConfig
from inovos.config import DataConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig
from inovos.config_check import check_values
from inovos.errors import InovosError
from inovos.layers.dino_head import DINOHead
from inovos.losses import INOLoss
from inovos.models.spec import spec_from_model_config
from inovos.models.vit import build_backbone
from inovos.train.distributed import DistInfo
from inovos.train.model import BackboneWithHead, StudentTeacher
from inovos.train.optim import param_groups
from inovos.train.schedules import Schedules, build_schedules

logger = logging.getLogger(__name__)


def check_config(config: TrainConfig) -> None:
    """Reject settings that cannot train, with the option's name and what it allows.

    Every numeric field is checked against its range (:mod:`inovos.config_check`),
    then the rules that tie fields together.

    Raises:
        InovosError: the first problem found.
    """
    check_values(config)
    d, m = config.data, config.model
    problems = [
        (
            d.clip_len % 2 == 1,
            f"data.clip_len must be even and >= 2 (L_out pairs frames t and t+T/2), got {d.clip_len}",
        ),
        (
            d.global_size % m.patch_size != 0,
            f"data.global_size {d.global_size} is not a multiple of model.patch_size {m.patch_size}",
        ),
        (
            d.local_size % m.patch_size != 0,
            f"data.local_size {d.local_size} is not a multiple of model.patch_size {m.patch_size}",
        ),
    ]
    for bad, message in problems:
        if bad:
            raise InovosError(message)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels (slower) when ``enabled``; cuDNN autotuning otherwise."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled


def build_network(cfg: ModelConfig, drop_path_rate: float) -> BackboneWithHead:
    """A ViT + DINO head as configured (``drop_path_rate`` given: the teacher uses 0)."""
    backbone = build_backbone(spec_from_model_config(cfg), drop_path_rate)
    head = DINOHead(
        backbone.embed_dim,
        cfg.out_dim,
        hidden_dim=cfg.head_hidden_dim,
        bottleneck_dim=cfg.head_bottleneck_dim,
        norm_last_layer=cfg.norm_last_layer,
    )
    return BackboneWithHead(backbone, head)


def build_model(cfg: ModelConfig, device: torch.device) -> StudentTeacher:
    """Student (configured drop path) and teacher (none, a copy of the student) on ``device``."""
    student = build_network(cfg, cfg.drop_path_rate)
    teacher = build_network(cfg, 0.0)
    return StudentTeacher(student, teacher).to(device)


def wrap_student(model: StudentTeacher, info: DistInfo, device: torch.device) -> nn.Module:
    """The module to call for the student's forward: DDP when distributed, else the student.

    The student has no buffers, so DDP's buffer syncing is a no-op; every parameter
    takes part in every step (the mask is always passed), so no unused-parameter search.
    """
    if not info.is_distributed:
        return model.student
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model.student, device_ids=ids)


def build_loss(cfg: LossConfig, out_dim: int, device: torch.device) -> INOLoss:
    """The INO objective with its two centres."""
    try:
        loss = INOLoss(
            out_dim,
            w_out=cfg.w_out,
            w_mim=cfg.w_mim,
            w_aff=cfg.w_aff,
            student_temp=cfg.student_temp,
            aff_teacher_temp=cfg.aff_teacher_temp,
            aff_student_temp=cfg.aff_student_temp,
            center_momentum=cfg.center_momentum,
        )
    except ValueError as err:
        raise InovosError(f"loss settings: {err}") from None
    return loss.to(device)


def build_optimizer(
    student: nn.Module, cfg: OptimConfig, device: torch.device
) -> torch.optim.AdamW:
    """AdamW (0.9, 0.999) over the two parameter groups; the fused kernel when asked.

    The fused kernel exists for CUDA and CPU tensors (about 7x faster than the
    per-tensor loop on CPU for ViT-S); other devices use the default implementation.
    """
    fused = cfg.fused and device.type in ("cuda", "cpu")
    groups = param_groups(student, cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=0.0, betas=(0.9, 0.999), fused=fused or None)


def build_run_schedules(config: TrainConfig, world_size: int, iters_per_epoch: int) -> Schedules:
    """lr / wd / momentum / teacher-temperature arrays over every iteration of the run."""
    o = config.optim
    try:
        return build_schedules(
            base_lr=o.base_lr,
            min_lr=o.min_lr,
            clips_per_gpu=o.clips_per_gpu,
            clip_len=config.data.clip_len,
            world_size=world_size,
            epochs=o.epochs,
            iters_per_epoch=iters_per_epoch,
            warmup_epochs=o.warmup_epochs,
            weight_decay=o.weight_decay,
            weight_decay_end=o.weight_decay_end,
            momentum_teacher=o.momentum_teacher,
            teacher_temp=config.loss.teacher_temp,
        )
    except ValueError as err:
        raise InovosError(f"optim settings: {err}") from None


def view_config(cfg: DataConfig) -> ViewConfig:
    """Crop sizes and counts from the data config (augmentation strengths: the ``ViewConfig`` defaults)."""
    return ViewConfig(global_size=cfg.global_size, local_size=cfg.local_size, n_local=cfg.n_local)


class ResumableSampler(Sampler):
    """Wraps :class:`ClipSampler`; the next iteration can skip its first ``skip`` items."""

    def __init__(self, sampler: ClipSampler) -> None:
        self.sampler = sampler
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch and how many items (clips) of it were already used."""
        self.sampler.set_epoch(epoch)
        self.skip = skip

    def __len__(self) -> int:
        return len(self.sampler) - self.skip

    def __iter__(self) -> Iterator[Any]:
        return itertools.islice(iter(self.sampler), self.skip, None)


@dataclass
class DataParts:
    """The data side of a run."""

    index: VideoIndex
    dataset: ClipDataset
    sampler: ResumableSampler
    loader: DataLoader
    batched_views: BatchedViews | None
    iters_per_epoch: int


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def build_data(config: TrainConfig, info: DistInfo, device: torch.device) -> DataParts:
    """Video index (cached, built once), clip dataset, rank-aware sampler and loader.

    Raises:
        InovosError: no source, no usable clip, or fewer clips than one global batch.
    """
    d = config.data
    if not d.source:
        raise InovosError("no training videos: pass --data LIST_OR_FOLDER (data.source)")
    cache = d.index_cache or str(Path(config.run.output_dir).absolute().parent / ".index-cache")
    index = build_video_index(
        d.source,
        root=d.root or None,
        fps=d.fps,
        clip_len=d.clip_len,
        frames_fps=d.frames_fps,
        cache_dir=cache,
        progress=info.is_main,
    )
    counts = index.num_clips()
    if len(index) == 0 or int(counts.sum()) == 0:
        raise InovosError(
            f"{d.source}: no video offers a clip of {d.clip_len} frames at {d.fps} fps"
        )
    sampler = ClipSampler(
        counts,
        clips_per_video=d.clips_per_video,
        seed=config.run.seed,
        rank=info.rank,
        world_size=info.world_size,
        drop_last=True,
    )
    batch = config.optim.clips_per_gpu
    iters = len(sampler) // batch
    if iters == 0:
        raise InovosError(
            f"{d.source}: {sampler.clips_per_epoch} clips per epoch are fewer than one batch "
            f"of {batch} clips x {info.world_size} ranks (lower optim.clips_per_gpu)"
        )
    views = view_config(d)
    dataset = ClipDataset(index, views=None if d.views_on_device else CpuViews(views))
    resumable = ResumableSampler(sampler)
    loader = DataLoader(
        dataset,
        batch_size=batch,
        sampler=resumable,
        num_workers=d.num_workers,
        collate_fn=collate_clips,
        drop_last=True,
        pin_memory=device.type == "cuda",
        worker_init_fn=_worker_init if d.num_workers > 0 else None,
        generator=torch.Generator().manual_seed(config.run.seed),
        # Workers live across epochs (no restart stall): the sampler runs in this
        # process and every item carries its own seed, so epochs stay reproducible.
        persistent_workers=d.num_workers > 0,
    )
    batched = BatchedViews(views) if d.views_on_device else None
    return DataParts(index, dataset, resumable, loader, batched, iters)


__all__ = [
    "DataParts",
    "ResumableSampler",
    "build_data",
    "build_loss",
    "build_model",
    "build_network",
    "build_optimizer",
    "build_run_schedules",
    "check_config",
    "seed_everything",
    "set_deterministic",
    "view_config",
    "wrap_student",
]
