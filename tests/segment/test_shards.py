"""Sharded evaluation: the balanced assignment, --shard I/N jobs with a checking final
step, and torchrun ranks (gloo, CPU) writing exactly what one process writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import inovos
from inovos.cli import main
from inovos.errors import InovosError
from inovos.records import read_record
from inovos.segment.shards import assign_shards, my_sequences, parse_shard, sequence_cost
from inovos.synth import write_synth_davis, write_synth_ytvos
from inovos.vos.davis import DavisDataset

FAST = ["--model", "random:vit_tiny", "--patch-size", "16", "--short-side", "64", "--no-progress"]


def _files(root: Path) -> dict[str, bytes]:
    """Every output file's bytes, without the run record and summary (they hold times)."""
    skip = {"run.json", "summary-val.json"}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_greedy_longest_first_by_hand() -> None:
    # costs 9 (s0), 7 (s1), 5 (s1: 7 < 9), 3 (s0: 9 < 12), 1 (tie 12 = 12: s0)
    assert assign_shards([5, 9, 3, 7, 1], 2) == [1, 0, 0, 1, 0]
    assert assign_shards([4, 4, 4], 3) == [0, 1, 2]
    assert assign_shards([4, 4, 4], 1) == [0, 0, 0]
    assert assign_shards([], 2) == []


def test_parse_shard() -> None:
    assert parse_shard("1/4").index == 1 and parse_shard(" 0 / 2 ").count == 2
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(InovosError, match="--shard"):
            parse_shard(bad)


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("davis")
    return write_synth_davis(
        root / "d", num_sequences=3, num_frames=5, size=(72, 128), seed=3, progress=False
    )


def test_shard_jobs_then_evaluate_equal_one_run(davis: Path, tmp_path: Path, capsys) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["propagate", "--davis", str(davis), "--out", str(whole), "--evaluate", *FAST]) == 0
    sequences = list(DavisDataset(davis))
    owned = [my_sequences(sequences, parse_shard(f"{i}/2")) for i in (0, 1)]
    assert sorted(s.name for part in owned for s in part) == sorted(s.name for s in sequences)
    costs = [sum(sequence_cost(s) for s in part) for part in owned]
    assert max(costs) - min(costs) <= max(sequence_cost(s) for s in sequences)
    assert (
        main(["propagate", "--davis", str(davis), "--out", str(parts), "--shard", "1/2", *FAST])
        == 0
    )
    assert "inovos evaluate" in capsys.readouterr().out  # how to finish
    # the final step checks that every sequence is there: one line naming the missing ones
    evaluate = ["evaluate", str(parts), "--davis", str(davis), "--processes", "1"]
    assert main(evaluate) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert all(f"'{s.name}'" in err for s in owned[0]) and "no predictions" in err
    assert not any(f"'{s.name}'" in err for s in owned[1])
    assert (
        main(["propagate", "--davis", str(davis), "--out", str(parts), "--shard", "0/2", *FAST])
        == 0
    )
    assert main(evaluate) == 0
    assert _files(parts) == _files(whole)


@pytest.fixture(scope="module")
def ytvos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ytvos")
    return write_synth_ytvos(
        root / "yt", num_sequences=3, num_frames=11, size=(64, 96), seed=5, progress=False
    )


def test_ytvos_shards_and_the_checked_zip(ytvos: Path, tmp_path: Path, capsys) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["propagate", "--ytvos", str(ytvos), "--out", str(whole), *FAST]) == 0
    assert (
        main(["propagate", "--ytvos", str(ytvos), "--out", str(parts), "--shard", "0/2", *FAST])
        == 0
    )
    assert not (parts / "Annotations.zip").exists()
    capsys.readouterr()
    assert main(["evaluate", str(parts), "--ytvos", str(ytvos)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "incomplete" in err and "--shard" in err
    assert not (parts / "Annotations.zip").exists()
    assert (
        main(["propagate", "--ytvos", str(ytvos), "--out", str(parts), "--shard", "1/2", *FAST])
        == 0
    )
    assert main(["evaluate", str(parts), "--ytvos", str(ytvos)]) == 0
    assert _files(parts) == _files(whole)


def _inovos_command() -> list[str]:
    """The `inovos` console script of this interpreter, for torchrun --no-python."""
    script = shutil.which("inovos", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the inovos console script is not installed beside this Python")
    return [script]


@pytest.mark.slow
def test_torchrun_two_ranks_write_what_one_process_writes(ytvos: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(inovos.__file__).parents[1]),  # this checkout's package
    }
    args = ["propagate", "--ytvos", str(ytvos), *FAST]
    times = {}
    for n in (1, 2):
        out = tmp_path / f"np{n}"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc_per_node", str(n), "--no-python", *_inovos_command()]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, *args, "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        times[n] = time.perf_counter() - start
        assert done.returncode == 0, done.stderr[-3000:]
    print(f"torchrun wall time: 1 process {times[1]:.1f} s, 2 processes {times[2]:.1f} s")
    one, two = _files(tmp_path / "np1"), _files(tmp_path / "np2")
    assert one == two and "Annotations.zip" in one
    with zipfile.ZipFile(tmp_path / "np2" / "Annotations.zip") as z:
        assert len(z.namelist()) == sum(1 for k in one if k.endswith(".png"))
    rec = read_record(tmp_path / "np2")  # both ranks recorded their sequences
    assert rec is not None and len(rec["sequences"]) == 3
