"""Distributed helpers: one code path for a single process and for ``torchrun``.

``torchrun`` (single node or multi-node rendezvous) sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_distributed` reads them, picks NCCL on CUDA and gloo on
CPU, and does nothing when they are absent (one process). No process is spawned here.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from inovos.devices import resolve_device
from inovos.errors import InovosError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs and writes files)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InovosError(f"environment variable {name}={value!r} is not an integer") from None


def dist_info_from_env() -> DistInfo:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (as set by torchrun); defaults: one process."""
    return DistInfo(
        rank=_env_int("RANK", 0),
        world_size=_env_int("WORLD_SIZE", 1),
        local_rank=_env_int("LOCAL_RANK", 0),
    )


def init_distributed(device_preference: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; otherwise a single process.

    Returns:
        (info, device): NCCL is used for CUDA devices, gloo for CPU.
    """
    info = dist_info_from_env()
    device = resolve_device(device_preference, "run.device", info.local_rank)
    if info.is_distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict = {"backend": backend, "timeout": datetime.timedelta(minutes=30)}
        if device.type == "cuda":
            kwargs["device_id"] = device
        dist.init_process_group(**kwargs)
        logger.info(
            "rank %d/%d (local %d) joined the %s process group",
            info.rank,
            info.world_size,
            info.local_rank,
            backend,
        )
    return info, device


def is_initialized() -> bool:
    """True inside a multi-process job whose process group is up."""
    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every rank (no-op for one process)."""
    if is_initialized():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of ``value`` over ranks (returns a new tensor; the input is not changed)."""
    out = value.detach().clone()
    if is_initialized():
        dist.all_reduce(out)
        out /= dist.get_world_size()
    return out


def all_reduce_flag(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is True on ANY rank (e.g. a time budget reached somewhere)."""
    if not is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def cleanup() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if is_initialized():
        dist.destroy_process_group()


__all__ = [
    "DistInfo",
    "all_reduce_flag",
    "all_reduce_mean",
    "barrier",
    "cleanup",
    "dist_info_from_env",
    "init_distributed",
    "is_initialized",
]
