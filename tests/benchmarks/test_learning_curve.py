"""``benchmarks/learning_curve.py`` at a tiny size: chunked training, exports, CSV, PNG."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from inovos.demo import DemoOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import learning_curve as lc

TINY_MODEL = [
    "model.embed_dim=24",
    "model.depth=6",
    "model.num_heads=2",
    "model.out_dim=32",
    "model.head_hidden_dim=32",
    "model.head_bottleneck_dim=16",
    "data.global_size=32",
    "data.local_size=16",
    "data.n_local=1",
    "data.num_workers=0",
    "optim.clips_per_gpu=2",
    "run.tensorboard=false",
]


def test_table_csv_and_png_from_points(tmp_path: Path) -> None:
    points = [
        lc.Point(0, "pixels", 50.0, 48.0, 52.0),
        lc.Point(0, "random", 60.0, 59.0, 61.0),
        lc.Point(10, "student", 58.5, 57.0, 60.0, 1.5),
        lc.Point(10, "teacher", 61.25, 60.0, 62.5, 1.5),
        lc.Point(20, "teacher", 66.0, 65.0, 67.0, 1.25),
    ]
    text = lc.table(points)
    lines = text.splitlines()
    assert (
        lines[0]
        == "| step | student J&F | teacher J&F | student - random | teacher - random | s/step |"
    )
    assert lines[3] == "| 10 | 58.5 | 61.2 | -1.5 | +1.2 | 1.50 |"
    assert lines[4] == "| 20 |  | 66.0 |  | +6.0 | 1.25 |"
    assert "random init (step 0) 60.0, raw pixels 50.0" in text

    lc.write_csv(points, tmp_path / "curve.csv")
    rows = list(csv.DictReader((tmp_path / "curve.csv").open()))
    assert rows[3] == {
        "step": "10",
        "source": "teacher",
        "jf": "61.250",
        "j": "60.000",
        "f": "62.500",
        "seconds_per_step": "1.500",
    }
    assert rows[0]["seconds_per_step"] == ""
    log = [
        {"iteration": 10, "train": {"out": 3.4, "mim": 3.0, "aff": 2.0}},
        {"iteration": 20, "train": {"out": 3.3, "aff": 1.9, "teacher_entropy_cls": 3.2}},
    ]
    # mim and aff are logged as 0 on unmasked steps: the panel shows masked-step means.
    means = {"out": 3.0, "mim": 1.5, "aff": 1.0, "masked": 0.5, "teacher_entropy_patch": 2.0}
    assert lc._per_masked_step(means, "mim") == 3.0
    assert lc._per_masked_step(means, "aff") == 2.0
    assert lc._per_masked_step(means, "out") == 3.0
    assert lc._per_masked_step(means, "teacher_entropy_patch") == 2.0
    lc.plot(points, log, 32, tmp_path / "curve.png", "test")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_curve_scores_each_stop_and_resumes_one_schedule(tmp_path: Path) -> None:
    args = lc.parse_args(
        ["--steps", "4", "--every", "3", "--out", str(tmp_path / "run"), "--sources", "teacher"]
        + [f"--set={o}" for o in TINY_MODEL]
    )
    data = DemoOptions(
        workdir=tmp_path / "data",
        train_videos=2,
        heldout_sequences=1,
        heldout_frames=4,
        heldout_size=(64, 96),
        short_side=64,
        progress=False,
    )
    points, config = lc.learning_curve(args, data)

    # Baselines at step 0, then the teacher at every stop, the last one at --steps.
    assert [(p.step, p.source) for p in points] == [
        (0, "pixels"),
        (0, "random"),
        (3, "teacher"),
        (4, "teacher"),
    ]
    assert all(0.0 <= p.jf <= 100.0 for p in points)
    records = lc.read_log(tmp_path / "run" / "run" / "log.jsonl")
    # Two bounded train calls of one schedule: 3 steps, then the 4th resumed.
    assert [r["iteration"] for r in records] == [3, 4]
    assert config.optim.epochs * records[0]["iters_per_epoch"] >= 4

    assert "| 4 |" in lc.table(points)
