"""A training run from a :class:`~inovos.config.TrainConfig`: set-up, resume, epochs, saving.

``train(config, resume)`` is the same for one process and under ``torchrun``.
Files in ``run.output_dir``: ``config.yaml`` (resolved config), ``checkpoint.pth``
(latest, replaced atomically), ``log.jsonl`` (every ``run.log_every`` steps a
``"kind": "step"`` line with that step's values under ``train``; per epoch a
``"kind": "epoch"`` line with the epoch's means under ``train``), ``tb/``
(TensorBoard), ``views/epoch_NNNN.png`` (one clip's augmented views).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from inovos.atomic import file_in_the_way, remove_stale_temps, write_error
from inovos.clips.patch_masks import num_patches
from inovos.config import TrainConfig, config_to_dict, save_yaml
from inovos.errors import InovosError
from inovos.train.checkpoint import (
    LATEST_NAME,
    Position,
    atomic_save,
    gather_rng_states,
    load_checkpoint,
    restore_rank_rng,
    restore_training_state,
    training_state,
)
from inovos.train.diagnostics import CollapseWatch
from inovos.train.distributed import (
    DistInfo,
    all_reduce_flag,
    all_reduce_mean,
    barrier,
    cleanup,
    init_distributed,
)
from inovos.train.logging_utils import JsonlLog, Progress, ScalarWriter, Throughput, save_views_png
from inovos.train.loop import EpochHooks, EpochResult, MaskMaker, train_one_epoch
from inovos.train.setup import (
    DataParts,
    build_data,
    build_loss,
    build_model,
    build_optimizer,
    build_run_schedules,
    check_config,
    seed_everything,
    set_deterministic,
    wrap_student,
)
from inovos.train.state import TrainState
from inovos.train.step import TrainStep, ViewBatch, resolve_precision

logger = logging.getLogger(__name__)


@dataclass
class TrainSummary:
    """How a run ended."""

    output_dir: Path
    checkpoint: Path
    position: Position
    stop_reason: str  # "completed", "max_iters" or "max_minutes"
    last: dict[str, float] = field(default_factory=dict)
    seconds_per_step: float = float("nan")  # recent steps; the first (start-up) excluded
    iters_per_epoch: int = 0


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> TrainSummary:
    """Train (or continue, with ``resume``) as configured; joins torchrun's group if any.

    ``progress`` shows rank 0's per-epoch bar; ``log.jsonl`` is written either way.
    """
    info, device = init_distributed(config.run.device)
    if not info.is_main:  # rank 0 speaks for the job; the others only warn
        logging.getLogger("inovos").setLevel(logging.WARNING)
    try:
        return _train(config, resume, info, device, progress)
    finally:
        cleanup()


@dataclass
class _Parts:
    """Everything built for a run (a record; behaviour lives in the functions below)."""

    config: TrainConfig
    info: DistInfo
    data: DataParts
    state: TrainState
    step: TrainStep
    masks: MaskMaker
    out: Path
    started: float = field(default_factory=time.perf_counter)


def _build(config: TrainConfig, info: DistInfo, device: torch.device, resume: bool) -> _Parts:
    out = Path(config.run.output_dir)
    blocker = file_in_the_way(out / LATEST_NAME)
    if blocker is not None:
        raise InovosError(f"cannot use {out} as the run folder: {blocker} is a file, not a folder")
    has_checkpoint = info.is_main and (out / LATEST_NAME).is_file()
    if resume and not all_reduce_flag(has_checkpoint, device):
        raise InovosError(f"{out}: no {LATEST_NAME} to resume from (start without --resume)")
    if not resume and all_reduce_flag(has_checkpoint, device):
        raise InovosError(
            f"{out} already holds {LATEST_NAME}: pass --resume to continue that run, "
            "or choose another --output"
        )
    check_config(config)
    precision = resolve_precision(config.optim.precision, device)
    set_deterministic(config.run.deterministic)
    seed_everything(config.run.seed)  # identical initial weights on every rank
    model = build_model(config.model, device)
    seed_everything(config.run.seed + info.rank)  # then one stream per rank (drop path)
    data = build_data(config, info, device)
    state = TrainState(
        model=model,
        optimizer=build_optimizer(model.student, config.optim, device),
        loss_fn=build_loss(config.loss, config.model.out_dim, device),
        scaler=torch.amp.GradScaler(device.type) if precision == "fp16" else None,
    )
    step = TrainStep(
        state,
        student_fwd=wrap_student(model, info, device),
        schedules=build_run_schedules(config, info.world_size, data.iters_per_epoch),
        precision=precision,
        device=device,
        clip_grad=config.optim.clip_grad,
        freeze_last_layer=config.optim.freeze_last_layer,
        grad_norms_every=config.run.log_every,
    )
    loss = config.loss
    masks = MaskMaker(
        config.run.seed,
        info.rank,
        config.data.clip_len,
        config.optim.clips_per_gpu,
        num_patches(config.data.global_size, config.model.patch_size),
        mask_prob=loss.mask_prob,
        ratio=(loss.mask_ratio_min, loss.mask_ratio_max),
        per_sample=loss.mask_per_sample,
        device=device,
    )
    logger.info(
        "training on %s (%s, %d rank(s)), %d steps per epoch, %d epochs",
        device,
        precision,
        info.world_size,
        data.iters_per_epoch,
        config.optim.epochs,
    )
    return _Parts(config, info, data, state, step, masks, out)


def _open_run_folder(parts: _Parts) -> None:
    """Create the run folder, drop temp files of a killed run, write config.yaml (rank 0).

    Called once the run has been built (and resumed): a start that fails leaves the
    folder's files as they were.
    """
    if parts.info.is_main:
        try:
            parts.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(parts.out, err) from None
        remove_stale_temps(parts.out, recursive=True)
        save_yaml(parts.config, parts.out / "config.yaml")


def save_checkpoint(parts: _Parts, position: Position) -> Path:
    """Gather every rank's RNG state and write ``checkpoint.pth`` atomically (rank 0)."""
    rng = gather_rng_states()  # collective: every rank calls it
    path = parts.out / LATEST_NAME
    if parts.info.is_main:
        world, config = parts.info.world_size, config_to_dict(parts.config)
        state = training_state(parts.state, position, rng, world, config)
        atomic_save(state, path)
        if parts.config.run.keep_epoch_checkpoints and position.iter_in_epoch == 0:
            atomic_save(state, parts.out / f"checkpoint_epoch{position.epoch:04d}.pth")
        logger.debug("saved %s at iteration %d", path, position.iteration)
    return path


def _resume(parts: _Parts) -> Position:
    path = parts.out / LATEST_NAME
    state = load_checkpoint(path, map_location=parts.step.device)
    position = restore_training_state(state, parts.state)
    ipe = parts.data.iters_per_epoch
    if int(state["sampler"].get("world_size", 1)) != parts.info.world_size:
        logger.warning("world size changed since the checkpoint: restarting its epoch")
        position = Position(position.epoch, 0, position.epoch * ipe)
    if position.iter_in_epoch >= ipe:  # the data now gives fewer steps per epoch
        position = Position(position.epoch + 1, 0, 0)
    position = Position(
        position.epoch, position.iter_in_epoch, position.epoch * ipe + position.iter_in_epoch
    )
    restore_rank_rng(state["rng"], parts.info.rank, parts.info.world_size)
    logger.info(
        "resumed from %s: epoch %d, step %d of %d",
        path,
        position.epoch,
        position.iter_in_epoch,
        ipe,
    )
    return position


def _stop_reason(parts: _Parts, iteration: int) -> str | None:
    run = parts.config.run
    if run.max_iters and iteration >= run.max_iters:
        return "max_iters"
    if run.max_minutes > 0:
        late = time.perf_counter() - parts.started > 60.0 * run.max_minutes
        if all_reduce_flag(late, parts.step.device):
            return "max_minutes"
    return None


@dataclass
class _Logs:
    """Where a run reports: TensorBoard, log.jsonl, the collapse watch, the throughput."""

    writer: ScalarWriter
    log: JsonlLog
    watch: CollapseWatch
    throughput: Throughput = field(default_factory=Throughput)


def _short(values: dict[str, float], out_dim: int) -> dict[str, float]:
    """The progress bar's values: the terms, lr, and the cls teacher entropy / ln K ("H")."""
    shown: dict[str, float] = {
        k: values[k] for k in ("loss", "out", "mim", "aff", "lr") if k in values
    }
    if "teacher_entropy_cls" in values:
        shown["H"] = values["teacher_entropy_cls"] / math.log(out_dim)
    return shown


def _epoch_hooks(parts: _Parts, epoch: int, progress: Progress, logs: _Logs) -> EpochHooks:
    """Per-step logging, periodic checkpoints, budgets; the epoch's views picture."""
    cfg = parts.config
    clips = cfg.optim.clips_per_gpu * parts.info.world_size
    total = cfg.optim.epochs * parts.data.iters_per_epoch
    throughput = logs.throughput

    def after_step(
        epoch: int, iter_in_epoch: int, iteration: int, values: dict[str, float]
    ) -> str | None:
        throughput.tick(clips)
        eta = (total - iteration) * throughput.seconds_per_step()
        progress.update(_short(values, cfg.model.out_dim), throughput.clips_per_s(), eta)
        logs.watch.update(values, iteration)
        if cfg.run.log_every and iteration % cfg.run.log_every == 0:
            logs.writer.add_scalars({**values, "clips_per_s": throughput.clips_per_s()}, iteration)
            record = {"kind": "step", "epoch": epoch, "iteration": iteration}
            logs.log.write({**record, "train": values})
        every = cfg.run.save_every_iters
        if every and iteration % every == 0 and iter_in_epoch < parts.data.iters_per_epoch:
            save_checkpoint(parts, Position(epoch, iter_in_epoch, iteration))
        return _stop_reason(parts, iteration)

    def first_batch(views: ViewBatch) -> None:
        if parts.info.is_main and cfg.run.save_views:
            t, b, n_local = views.frames, views.clips, views.n_local
            g = views.globals_.view(t, b, *views.globals_.shape[1:])[:, 0]
            loc = views.locals_.view(t, n_local, b, *views.locals_.shape[1:])[:, :, 0]
            save_views_png(g, loc, parts.out / "views" / f"epoch_{epoch:04d}.png")

    return EpochHooks(after_step=after_step, first_batch=first_batch)


def _gather_failures(result: EpochResult) -> tuple[int, list[str]]:
    count, names = result.decode_failures, list(result.failed_videos)
    if dist.is_available() and dist.is_initialized():
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, (count, names))
        count = sum(c for c, _ in gathered)
        names = [n for _, ns in gathered for n in ns]
    return count, sorted(set(names))


def _epoch_record(
    parts: _Parts, epoch: int, result: EpochResult, position: Position, seconds: float
) -> dict[str, Any]:
    """The JSON line of an epoch: mean values over ranks, skipped videos, timing."""
    keys = sorted(result.means)
    means = {}
    if keys:
        packed = torch.tensor([result.means[k] for k in keys], dtype=torch.float64)
        reduced = all_reduce_mean(packed.to(parts.step.device)).cpu().tolist()
        means = dict(zip(keys, reduced, strict=True))
    failures, failed = _gather_failures(result)
    skipped = [{"path": p, "reason": r} for p, r in parts.data.index.skipped]
    skipped += [{"path": p, "reason": "decode failed"} for p in failed]
    clips = result.steps * parts.config.optim.clips_per_gpu * parts.info.world_size
    return {
        "kind": "epoch",
        "epoch": epoch,
        "iteration": position.iteration,
        "steps": result.steps,
        "iters_per_epoch": parts.data.iters_per_epoch,
        "partial": result.iter_in_epoch < parts.data.iters_per_epoch,
        "stop_reason": result.stop_reason,
        "seconds": round(seconds, 3),
        "clips_per_s": clips / seconds if seconds > 0 else 0.0,
        "train": means,
        "decode_failures": failures,
        "num_skipped_videos": len(skipped),
        "skipped_videos": skipped,
    }


def _train(
    config: TrainConfig, resume: bool, info: DistInfo, device: torch.device, show: bool
) -> TrainSummary:
    parts = _build(config, info, device, resume)
    position = _resume(parts) if resume else Position()
    _open_run_folder(parts)
    ipe, epochs = parts.data.iters_per_epoch, config.optim.epochs
    logs = _Logs(
        ScalarWriter(parts.out / "tb", enabled=info.is_main and config.run.tensorboard),
        JsonlLog(parts.out / "log.jsonl", enabled=info.is_main),
        CollapseWatch(config.model.out_dim, config.run.collapse_warn_steps, enabled=info.is_main),
    )
    reason = _stop_reason(parts, position.iteration) if position.iteration else None
    last: dict[str, float] = {}
    barrier()
    try:
        while reason is None and position.epoch < epochs:
            epoch, start = position.epoch, position.iter_in_epoch
            parts.data.sampler.set_epoch(epoch, skip=start * config.optim.clips_per_gpu)
            progress = Progress(
                ipe, start, f"epoch {epoch}/{epochs}", enabled=info.is_main and show
            )
            hooks = _epoch_hooks(parts, epoch, progress, logs)
            began = time.perf_counter()
            try:
                result = train_one_epoch(
                    parts.step,
                    parts.data.loader,
                    parts.masks,
                    hooks,
                    epoch=epoch,
                    start_iter=start,
                    iters_per_epoch=ipe,
                    seed=config.run.seed,
                    rank=info.rank,
                    batched_views=parts.data.batched_views,
                )
            finally:
                progress.close()
            done = result.iter_in_epoch >= ipe
            position = Position(
                epoch + 1 if done else epoch,
                0 if done else result.iter_in_epoch,
                epoch * ipe + result.iter_in_epoch,
            )
            save_checkpoint(parts, position)
            seconds = time.perf_counter() - began
            logs.log.write(_epoch_record(parts, epoch, result, position, seconds))
            logs.writer.flush()
            last = result.last or last
            reason = result.stop_reason
    finally:
        logs.writer.close()
    return TrainSummary(
        parts.out,
        parts.out / LATEST_NAME,
        position,
        reason or "completed",
        last,
        logs.throughput.seconds_per_step(),
        ipe,
    )


__all__ = ["TrainSummary", "save_checkpoint", "train"]
