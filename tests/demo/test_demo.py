"""`inovos demo` end to end at a tiny size: budget-bounded training, three sources, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inovos.cli import main
from inovos.config import PRESETS, load_yaml
from inovos.demo import (
    HELDOUT_TEXTURES,
    TUNING_TEXTURES,
    DemoOptions,
    run_demo,
    training_progress,
    write_demo_report,
)
from inovos.models.sha import file_sha256
from inovos.synth.videos import PHOTOS
from inovos.train.export import export_backbone

TINY = dict(
    train_minutes=0.5,
    train_videos=2,
    heldout_sequences=1,
    heldout_frames=5,
    heldout_size=(64, 96),
    short_side=64,
    progress=False,
)


def test_heldout_textures_never_texture_training_videos() -> None:
    assert HELDOUT_TEXTURES and not set(HELDOUT_TEXTURES) & set(PHOTOS)


def test_tuning_textures_are_neither_training_nor_heldout_ones() -> None:
    assert TUNING_TEXTURES and not set(TUNING_TEXTURES) & (set(PHOTOS) | set(HELDOUT_TEXTURES))


def test_demo_trains_within_budget_and_scores_three_sources(tmp_path: Path) -> None:
    options = DemoOptions(workdir=tmp_path / "demo", **TINY)  # type: ignore[arg-type]
    scores = run_demo(options)

    assert [s.name for s in scores] == ["trained", "random", "pixels"]
    split = tmp_path / "demo" / "davis-heldout" / "ImageSets" / "2017" / "val.txt"
    heldout = split.read_text().split()
    assert len(heldout) == 1
    for score in scores:
        assert 0.0 <= score.jf <= 100.0
        assert score.jf == pytest.approx((score.j + score.f) / 2)
        assert list(score.per_sequence) == heldout
    run = tmp_path / "demo" / "run"
    lines = (run / "log.jsonl").read_text().splitlines()
    records = [r for r in map(json.loads, lines) if r["kind"] == "epoch"]
    # The recipe's whole schedule is kept; the budget stopped the run part way.
    assert records and all(r["iters_per_epoch"] >= 1 for r in records)
    epochs = load_yaml(run / "config.yaml")["optim"]["epochs"]
    assert epochs == PRESETS["tiny-cpu"]["optim.epochs"]
    scheduled = epochs * records[0]["iters_per_epoch"]
    done = sum(r["steps"] for r in records)
    assert done == records[-1]["iteration"] < scheduled
    assert records[-1]["stop_reason"] == "max_minutes"
    assert sum(r["seconds"] for r in records) < 0.5 * 60 + 30
    assert training_progress(options) == (done, scheduled)
    assert (run / "teacher.safetensors").is_file()
    # A second run reuses every step: same numbers, nothing retrained.
    mtime = (run / "teacher.safetensors").stat().st_mtime_ns
    again = run_demo(options)
    assert [s.jf for s in again] == [s.jf for s in scores]
    assert (run / "teacher.safetensors").stat().st_mtime_ns == mtime
    trained = tmp_path / "demo" / "results" / "trained"
    masks = {p: p.stat().st_mtime_ns for p in trained.rglob("*.png")}
    assert masks and json.loads((trained / "run.json").read_text())["settings"]["model"]["sha256"]
    # Other weights under the same name (a longer training): the masks are redone, not reused.
    export_backbone(run / "checkpoint.pth", run / "teacher.safetensors", which="student")
    run_demo(options)
    record = json.loads((trained / "run.json").read_text())
    assert record["settings"]["model"]["sha256"] == file_sha256(run / "teacher.safetensors")
    assert all(p.stat().st_mtime_ns != t for p, t in masks.items())

    report = write_demo_report(options)
    html = report.read_text()
    assert report == tmp_path / "demo" / "report.html"
    assert all(f">{name}<" in html for name in ("trained", "random", "pixels"))


def test_demo_unwritable_workdir_is_one_line_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["demo", "--workdir", str(blocker / "demo"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create the demo folder" in err[0]
