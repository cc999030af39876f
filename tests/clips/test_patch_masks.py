"""Patch masks: counts, sharing, the no-mask probability, determinism, rank sync."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inovos.clips.patch_masks import (
    make_patch_mask,
    num_patches,
    sample_mask_count,
    sample_patch_mask,
    sync_mask_count,
)


def test_num_patches() -> None:
    assert num_patches(224, 8) == 784 and num_patches(224, 16) == 196 and num_patches(96, 8) == 144


def test_count_distribution_and_no_mask_probability() -> None:
    g = torch.Generator().manual_seed(0)
    n = 784
    counts = torch.tensor([sample_mask_count(n, g) for _ in range(4000)])
    none = (counts == 0).float().mean().item()
    assert abs(none - 0.5) < 0.03  # std of the rate ~0.008
    masked = counts[counts > 0].double()
    assert masked.min() >= int(0.1 * n) and masked.max() <= int(0.5 * n)
    assert abs(masked.mean().item() - 0.3 * n) < 0.02 * n  # r ~ U(0.1, 0.5)
    never = [sample_mask_count(n, g, no_mask_prob=0.0) for _ in range(50)]
    assert min(never) > 0
    fixed = [sample_mask_count(100, g, no_mask_prob=0.0, ratio=(0.25, 0.25)) for _ in range(5)]
    assert fixed == [25] * 5


def test_shared_mask_same_positions_everywhere() -> None:
    mask = make_patch_mask(30, 4, 3, 64, torch.Generator().manual_seed(1))
    assert mask.shape == (4, 3, 64) and mask.dtype == torch.bool
    assert (mask.sum(-1) == 30).all()
    assert (mask == mask[0, 0]).all()


def test_per_sample_mask_shared_count_different_positions() -> None:
    mask = make_patch_mask(20, 4, 3, 64, torch.Generator().manual_seed(2), per_sample=True)
    assert (mask.sum(-1) == 20).all()
    rows = {tuple(r.nonzero().flatten().tolist()) for r in mask.reshape(12, 64)}
    assert len(rows) == 12


def test_positions_are_uniform() -> None:
    g = torch.Generator().manual_seed(3)
    hits = torch.zeros(16)
    for _ in range(2000):
        hits += make_patch_mask(4, 1, 1, 16, g)[0, 0].float()
    assert (hits - 500).abs().max() < 80  # each position with probability 1/4


def test_empty_mask_and_determinism() -> None:
    assert not make_patch_mask(0, 2, 2, 16, torch.Generator().manual_seed(0)).any()
    a = [sample_patch_mask(4, 2, 49, torch.Generator().manual_seed(s)) for s in range(20)]
    b = [sample_patch_mask(4, 2, 49, torch.Generator().manual_seed(s)) for s in range(20)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    empty = sum(int(not m.any()) for m in a)
    assert 0 < empty < 20


def test_sync_without_distributed_is_identity() -> None:
    assert sync_mask_count(17) == 17


_TWO_RANKS = """
import sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from inovos.clips.patch_masks import sample_patch_mask, sync_mask_count


def worker(rank, init_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    counts = [sync_mask_count(10 + rank) for _ in range(2)]
    # different generators per rank: the count still agrees (rank 0's)
    masks = [sample_patch_mask(2, 1, 64, torch.Generator().manual_seed(rank * 7 + i), no_mask_prob=0.0)
             for i in range(4)]
    print(f"rank{rank}", counts, [int(m[0, 0].sum()) for m in masks], flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(worker, args=(sys.argv[1],), nprocs=2)
"""


@pytest.mark.slow
def test_sync_mask_count_broadcasts_rank_0(tmp_path: Path) -> None:
    """Two gloo ranks (about 20 s: two fresh torch processes)."""
    script = tmp_path / "two_ranks.py"
    script.write_text(_TWO_RANKS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "init")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = sorted(line for line in done.stdout.splitlines() if line.startswith("rank"))
    assert lines[0].startswith("rank0 [10, 10]") and lines[1].startswith("rank1 [10, 10]")
    assert lines[0].split("]", 1)[1] == lines[1].split("]", 1)[1]  # same counts on both ranks
