"""The one device resolver: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` to a ``torch.device``."""

from __future__ import annotations

import torch

from inovos.errors import InovosError


def resolve_device(
    name: str = "auto", option: str = "--device", local_rank: int | None = None
) -> torch.device:
    """The device a command runs on.

    Args:
        name: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        option: how the user set it (``--device``, ``run.device``), for error messages.
        local_rank: under torchrun, this process's rank on its node: plain ``cuda``
            (or ``auto`` on a GPU machine) then means GPU ``local_rank``, made current.

    Raises:
        InovosError: not a device name, CUDA asked for but absent, or no such GPU.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InovosError(f"{option} {name!r} is not a device (auto, cpu, cuda, cuda:N)") from None
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise InovosError(f"{option} {name}: CUDA is not available on this machine")
    count = torch.cuda.device_count()
    if device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank % count)
    if device.index is not None and device.index >= count:
        raise InovosError(f"{option} {name}: this machine has {count} CUDA device(s)")
    if local_rank is not None:
        torch.cuda.set_device(device)
    return device


__all__ = ["resolve_device"]
