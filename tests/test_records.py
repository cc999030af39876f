"""run.json: what made a results folder; resume only under the same settings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from inovos.cli import main
from inovos.records import differences, read_record, summary_line
from inovos.report.train_log import read_train_log, training_status
from inovos.synth import write_synth_davis

FAST = ["--short-side", "64", "--no-progress"]


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("davis")
    return write_synth_davis(
        root / "d", num_sequences=2, num_frames=5, size=(72, 128), seed=3, progress=False
    )


def _propagate(davis: Path, out: Path, *extra: str) -> int:
    return main(["propagate", "--davis", str(davis), "--out", str(out), *FAST, *extra])


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_stale_results_stop_and_matching_rerun_resumes(davis: Path, tmp_path: Path, capsys) -> None:
    """The issue's scenario: a re-run into a folder made with another model."""
    out = tmp_path / "res"
    assert _propagate(davis, out, "--model", "pixels", "--evaluate") == 0
    before = _snapshot(out)
    capsys.readouterr()
    code = _propagate(
        davis, out, "--model", "random:vit_tiny", "--topk", "10", "--context", "3", "--evaluate"
    )
    err = capsys.readouterr().err.strip().splitlines()
    print(err[-1])  # shown with -s: the line a user sees
    assert code == 2
    assert err[-1].startswith("inovos propagate: error: ") and "run.json" in err[-1]
    for field in (
        "model.source (pixels there, random:vit_tiny now)",
        "protocol.topk (5 there, 10 now)",
        "protocol.n_context (10 there, 3 now)",
        "--overwrite",
    ):
        assert field in err[-1]
    assert _snapshot(out) == before  # nothing written, the old CSVs untouched
    # the same settings again: every sequence is complete and recorded, so skipped
    assert _propagate(davis, out, "--model", "pixels") == 0
    assert "0 sequences propagated" in capsys.readouterr().out
    masks = {k: v for k, v in before.items() if k.endswith(".png")}
    assert {k: v for k, v in _snapshot(out).items() if k.endswith(".png")} == masks
    # --overwrite redoes them under the new settings
    assert (
        _propagate(davis, out, "--model", "random:vit_tiny", "--patch-size", "16", "--overwrite")
        == 0
    )
    record = read_record(out)
    assert record is not None
    assert record["settings"]["model"] == {"source": "random:vit_tiny", "seed": 0, "patch_size": 16}
    assert sorted(record["sequences"]) == sorted(p.name for p in out.iterdir() if p.is_dir())


def test_record_contents_and_a_checkpoint_by_sha256(davis: Path, tmp_path: Path) -> None:
    from inovos.models.checkpoints import random_backbone, save_weights

    weights = tmp_path / "w.safetensors"
    save_weights(random_backbone("vit_tiny", 16, seed=1), weights)
    out = tmp_path / "res"
    assert _propagate(davis, out, "--model", str(weights), "--topk", "7") == 0
    record = read_record(out)
    assert record is not None
    model = record["settings"]["model"]
    assert model["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert model["source"] == str(weights.resolve()) and model["patch_size"] == 16
    protocol = record["settings"]["protocol"]
    assert protocol["preset"] == "ino-davis" and protocol["topk"] == 7
    assert protocol["short_side"] == 64 and protocol["n_context"] == 10
    assert record["settings"]["feature_dtype"] == "float32"
    import torch

    from inovos import __version__

    assert record["environment"]["torch"] == torch.__version__
    assert record["environment"]["inovos"] == __version__
    assert record["data"] == {"davis": str(davis.resolve()), "split": "val"}
    for entry in record["sequences"].values():
        assert entry["frames"] == 5 and entry["frame_size"] == [72, 128]
        assert entry["input_size"] == [64, 112] and entry["device"] == "cpu"
        stages = entry["seconds"]
        assert set(stages) == {"read", "features", "propagation", "total"}
        assert stages["total"] >= stages["features"] > 0
    assert record["started"] <= record["finished"]
    assert "w.safetensors (sha256" in summary_line(record)
    # the same file moved elsewhere is the same model: resumes
    moved = tmp_path / "moved.safetensors"
    weights.rename(moved)
    assert _propagate(davis, out, "--model", str(moved), "--topk", "7") == 0
    assert read_record(out)["sequences"].keys() == record["sequences"].keys()  # type: ignore[index]


def test_unrecorded_masks_and_unlisted_sequences(davis: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "res"
    assert _propagate(davis, out, "--model", "pixels") == 0
    record = json.loads((out / "run.json").read_text())
    # a sequence whose masks are complete but which the record does not list is redone
    name = sorted(record["sequences"])[0]
    del record["sequences"][name]
    (out / "run.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert _propagate(davis, out, "--model", "pixels") == 0
    assert "1 sequences propagated" in capsys.readouterr().out
    assert name in read_record(out)["sequences"]  # type: ignore[index]
    # masks without any record: refused, then --overwrite redoes them
    (out / "run.json").unlink()
    assert _propagate(davis, out, "--model", "pixels") == 2
    err = capsys.readouterr().err
    assert "no run.json" in err and "--overwrite" in err
    assert not (out / "run.json").exists()
    assert _propagate(davis, out, "--model", "pixels", "--overwrite") == 0
    assert read_record(out) is not None


def test_evaluate_copies_the_record_into_its_summary(davis: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    assert _propagate(davis, out, "--model", "pixels") == 0
    assert main(["evaluate", str(out), "--davis", str(davis), "--processes", "1"]) == 0
    summary = json.loads((out / "summary-val.json").read_text())
    assert summary["run"] == read_record(out)
    assert summary["split"] == "val" and summary["objects"] > 0
    global_csv = (out / "global_results-val.csv").read_text().splitlines()
    first = dict(zip(global_csv[0].split(","), global_csv[1].split(","), strict=True))
    assert summary["scores"]["J&F-Mean"] == pytest.approx(float(first["J&F-Mean"]), abs=5e-4)


def test_differences_name_every_field() -> None:
    a = {
        "model": {"source": "/a/x.pth", "sha256": "1" * 64},
        "protocol": {"topk": 5, "size_overrides": []},
    }
    b = {
        "model": {"source": "/b/x.pth", "sha256": "2" * 64},
        "protocol": {"topk": 5, "size_overrides": ()},
    }
    assert differences(a, b) == [f"model.sha256 ({'1' * 12}... there, {'2' * 12}... now)"]
    assert differences(a, a) == []
    c = {"model": {"source": "random:vit_small", "seed": 0}, "protocol": {"preset": "p", "topk": 5}}
    d = {"model": {"source": "random:vit_small", "seed": 1}, "protocol": {"preset": "q", "topk": 5}}
    assert differences(c, d) == ["model.seed (0 there, 1 now)"]


def _epoch(epoch: int, iteration: int, reason: str | None) -> dict:
    return {
        "epoch": epoch,
        "iteration": iteration,
        "iters_per_epoch": 10,
        "partial": reason is not None,
        "stop_reason": reason,
        "train": {"loss": 1.0},
    }


def test_training_status_from_log_and_config(tmp_path: Path) -> None:
    config = {"optim": {"epochs": 3}}
    done = [_epoch(0, 10, None), _epoch(1, 20, None), _epoch(2, 30, None)]
    assert training_status(done, config).startswith("completed its schedule (step 30 of 30")
    budget = [_epoch(0, 10, None), _epoch(1, 14, "max_minutes")]
    assert training_status(budget, config) == (
        "stopped early by run.max_minutes budget at step 14 of 30, epoch 2 of 3, "
        "before the end of its schedule"
    )
    assert "run.max_iters" in training_status([_epoch(0, 5, "max_iters")], config)
    assert training_status(done[:1], config).startswith("unfinished")
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in budget) + "\n")
    (tmp_path / "config.yaml").write_text("optim:\n  epochs: 3\nrun:\n  max_minutes: 1\n")
    read = read_train_log(log)
    assert read.config is not None and "max_minutes: 1" in read.config
    assert read.status.startswith("stopped early by run.max_minutes")
