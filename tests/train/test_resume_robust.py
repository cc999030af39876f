"""Kill -9 during the config and checkpoint writes, failed starts, and --resume without a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inovos.atomic import TEMP_NAME
from inovos.cli import main as cli_main
from inovos.train.checkpoint import load_checkpoint
from inovos.train.main import train

WORKER = Path(__file__).with_name("crash_worker.py")


def _assert_same_state(a: dict, b: dict) -> None:
    """Every student/teacher tensor, the centres and the AdamW moments: max difference 0.0."""
    worst = 0.0
    for net in ("student", "teacher", "loss"):
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            worst = max(worst, (a[net][key].double() - b[net][key].double()).abs().max().item())
    for idx, moments in a["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            other = b["optimizer"]["state"][idx][name]
            worst = max(worst, (moments[name].double() - other.double()).abs().max().item())
    assert worst == 0.0
    assert a["iteration"] == b["iteration"]


def _args(out: Path, synth_list: Path, tiny_overrides: list[str]) -> list[str]:
    args = ["--preset", "tiny-cpu", "--data", str(synth_list), "--output", str(out)]
    return [*args, *tiny_overrides, f"data.index_cache={out.parent / 'index-cache'}"]


def _killed_run(name: str, occurrence: int, mode: str, args: list[str]) -> None:
    """Run the worker; it must die by SIGKILL at the chosen write."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(WORKER), name, str(occurrence), mode, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == -9, f"not killed at {name} #{occurrence}:\n{done.stderr[-2000:]}"


def _temps(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if TEMP_NAME.match(p.name)]


@pytest.fixture
def straight(tmp_path: Path, tiny_config) -> dict:
    """The reference: 7 steps in one go (5 steps per epoch: an epoch boundary is crossed)."""
    out = tmp_path / "straight"
    train(tiny_config(out, "run.max_iters=7"))
    return load_checkpoint(out / "checkpoint.pth")


@pytest.mark.slow  # two killed subprocesses and three runs: about a minute
@pytest.mark.parametrize("mode", ["rename", "write"])
def test_kill_during_checkpoint_then_config_writes_still_resumes_bit_for_bit(
    tmp_path: Path, synth_list: Path, tiny_overrides: list[str], straight: dict, mode: str
) -> None:
    out = tmp_path / "run"
    args = _args(out, synth_list, tiny_overrides)
    # 1. Killed in the 2nd checkpoint write (step 4): checkpoint.pth still holds step 2.
    _killed_run("checkpoint.pth", 2, mode, [*args, "run.save_every_iters=2", "run.max_iters=7"])
    assert load_checkpoint(out / "checkpoint.pth")["iteration"] == 2
    # 2. Resumed, and killed while the resumed run rewrites config.yaml.
    resume = ["--output", str(out), "--resume", "run.max_iters=7"]
    _killed_run("config.yaml", 1, mode, resume)
    assert load_checkpoint(out / "checkpoint.pth")["iteration"] == 2
    # 3. Resumed again: the run completes, identical to the straight run.
    assert cli_main(["train", *resume]) == 0
    _assert_same_state(straight, load_checkpoint(out / "checkpoint.pth"))
    assert _temps(out) == []  # the killed writers' temporary files were removed
    assert "max_iters: 7" in (out / "config.yaml").read_text()


def test_resume_without_a_checkpoint_refuses_and_writes_nothing(
    tmp_path: Path, synth_list: Path, tiny_overrides: list[str], capsys
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("data:\n  source: elsewhere.txt\n")
    before = sorted(p.name for p in out.iterdir())
    assert cli_main(["train", *_args(out, synth_list, tiny_overrides), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"inovos train: error: {out}: no checkpoint.pth to resume from " + (
        "(start without --resume)"
    )
    assert sorted(p.name for p in out.iterdir()) == before
    assert (out / "config.yaml").read_text() == "data:\n  source: elsewhere.txt\n"
    # Also without any config at all: the missing checkpoint is the problem named.
    assert cli_main(["train", "--output", str(tmp_path / "nothing"), "--resume"]) == 2
    assert "no checkpoint.pth to resume from" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_a_failed_resume_leaves_the_run_files_as_they_were(
    tmp_path: Path, synth_list: Path, tiny_overrides: list[str], capsys
) -> None:
    out = tmp_path / "run"
    assert cli_main(["train", *_args(out, synth_list, tiny_overrides), "run.max_iters=2"]) == 0
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = ["train", "--output", str(out), "--resume", f"data.source={tmp_path / 'gone.txt'}"]
    assert cli_main(bad) == 2
    assert "gone.txt" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == files


def test_resume_uses_the_checkpoint_config_when_config_yaml_is_lost(
    tmp_path: Path, synth_list: Path, tiny_overrides: list[str], capsys
) -> None:
    out = tmp_path / "run"
    assert cli_main(["train", *_args(out, synth_list, tiny_overrides), "run.max_iters=2"]) == 0
    text = (out / "config.yaml").read_text()
    # Half a file, as a kill left it (cut at a line end: a cut inside a number still parses).
    (out / "config.yaml").write_text(text[: text.rindex("\n", 0, len(text) // 3)])
    assert cli_main(["train", "--output", str(out), "--resume", "run.max_iters=3"]) == 0
    assert "(3 steps)" in capsys.readouterr().out
    (out / "config.yaml").unlink()
    assert cli_main(["train", "--output", str(out), "--resume", "run.max_iters=4"]) == 0
    assert "(4 steps)" in capsys.readouterr().out
    saved = load_checkpoint(out / "checkpoint.pth")["config"]
    assert saved["model"]["embed_dim"] == 32 and saved["data"]["source"] == str(synth_list)
    assert torch.is_tensor(load_checkpoint(out / "checkpoint.pth")["loss"]["cls_center.center"])


@pytest.mark.slow  # six training processes: a few minutes
def test_sigkill_at_staggered_times_always_resumes_bit_for_bit(
    tmp_path: Path, synth_list: Path, tiny_overrides: list[str]
) -> None:
    """SIGKILL ``inovos train`` at spread-out moments of its run (wherever that lands:
    a checkpoint, config.yaml, log.jsonl, a views PNG, mid-step); then start again
    (``--resume`` when a checkpoint exists, else afresh) and finish."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys; from inovos.cli import main; sys.exit(main(sys.argv[1:]))"

    def command(out: Path) -> list[str]:
        extra = ["run.max_iters=7", "run.save_every_iters=1", "data.num_workers=0"]
        return [
            sys.executable,
            "-c",
            code,
            "train",
            *_args(out, synth_list, tiny_overrides),
            *extra,
        ]

    reference = tmp_path / "reference"
    began = time.perf_counter()
    subprocess.run(command(reference), env=env, capture_output=True, check=True, timeout=300)
    whole = time.perf_counter() - began
    expected = load_checkpoint(reference / "checkpoint.pth")
    for k, fraction in enumerate((0.35, 0.55, 0.7, 0.85, 0.95)):
        out = tmp_path / f"killed{k}"
        child = subprocess.Popen(
            command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(fraction * whole)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        if (out / "checkpoint.pth").is_file():
            assert cli_main(["train", "--output", str(out), "--resume"]) == 0
        else:
            assert cli_main(command(out)[3:]) == 0
        _assert_same_state(expected, load_checkpoint(out / "checkpoint.pth"))
        assert _temps(out) == []
