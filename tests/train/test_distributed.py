"""Two CPU processes under torchrun (gloo) against one process on the union of their clips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inovos.config import save_yaml
from inovos.train.checkpoint import load_checkpoint
from inovos.train.distributed import DistInfo, all_reduce_flag, all_reduce_mean, dist_info_from_env
from inovos.train.main import train
from inovos.train.model import from_compat

WORKER = Path(__file__).with_name("ddp_worker.py")
# Drop path off (each rank has its own random stream); the sampler deals clips round-robin
# and augments each clip from its own seed, so 2 ranks x 2 clips see exactly the clips
# of one process x 4 clips, with the same (shared) patch masks.
COMMON = ["model.drop_path_rate=0", "run.max_iters=3", "loss.mask_prob=1.0"]


def _train_means(out: Path) -> dict[str, float]:
    lines = (out / "log.jsonl").read_text().splitlines()
    return json.loads(lines[-1])["train"]


def test_two_ranks_match_one_process_on_the_same_global_batch(tmp_path: Path, tiny_config) -> None:
    ddp_out, dump = tmp_path / "ddp", tmp_path / "dump"
    dump.mkdir()
    config = tiny_config(ddp_out, *COMMON, "optim.clips_per_gpu=2")
    config_file = tmp_path / "ddp.yaml"
    save_yaml(config, config_file)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--standalone", str(WORKER), str(config_file), str(dump)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    rank0 = torch.load(dump / "rank0.pt", weights_only=True)
    rank1 = torch.load(dump / "rank1.pt", weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"ranks differ at {key}"

    single_out = tmp_path / "single"
    summary = train(tiny_config(single_out, *COMMON, "optim.clips_per_gpu=4"))
    assert summary.position.iteration == 3
    single = load_checkpoint(single_out / "checkpoint.pth")
    expected = {
        **{f"student.{k}": v for k, v in from_compat(single["student"]).items()},
        **{f"teacher.{k}": v for k, v in from_compat(single["teacher"]).items()},
    }
    assert expected.keys() == rank0.keys()
    # Summation order differs (gloo all-reduce vs one batch): gradients agree to ~1e-7
    # relative, but AdamW divides by sqrt(v), so a near-zero gradient's update can move by a
    # fraction of lr (the 3 lrs sum to 1.2e-3). Different data would move weights by ~lr.
    for key, value in expected.items():
        torch.testing.assert_close(rank0[key], value, rtol=1e-4, atol=5e-5)

    ddp_means, single_means = _train_means(ddp_out), _train_means(single_out)
    assert ddp_means["masked"] == 1.0
    for key in ("loss", "out", "out_g2g", "out_l2g", "mim", "aff", "grad_norm", "lr"):
        assert ddp_means[key] == pytest.approx(single_means[key], rel=1e-5), key
    ddp_centre = load_checkpoint(ddp_out / "checkpoint.pth")["loss"]
    for key, value in single["loss"].items():
        torch.testing.assert_close(ddp_centre[key], value, rtol=1e-4, atol=1e-6)


def test_single_process_helpers(monkeypatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert dist_info_from_env() == DistInfo(0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    info = dist_info_from_env()
    assert info.is_distributed and not info.is_main and info.rank == 3
    cpu = torch.device("cpu")
    assert all_reduce_flag(True, cpu) is True and all_reduce_flag(False, cpu) is False
    assert torch.equal(all_reduce_mean(torch.tensor([2.0])), torch.tensor([2.0]))
