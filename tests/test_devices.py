"""The one device resolver."""

from __future__ import annotations

import pytest
import torch

from inovos.devices import resolve_device
from inovos.errors import InovosError


def test_names_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu", "run.device", local_rank=1) == torch.device("cpu")
    with pytest.raises(InovosError, match=r"^run\.device cuda:1: CUDA is not available"):
        resolve_device("cuda:1", "run.device")
    with pytest.raises(InovosError, match=r"^--device 'gpu' is not a device \(auto, cpu, cuda"):
        resolve_device("gpu")


def test_cuda_index_from_the_local_rank(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    chosen: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda")  # no rank: the current GPU
    assert chosen == [torch.device("cuda", 1)]
    with pytest.raises(InovosError, match="this machine has 2 CUDA device"):
        resolve_device("cuda:2")
