"""Inputs that used to give a wrong answer with exit status 0, now caught or said out loud."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
from cli_helpers import FAST, run_cli

from inovos.evaluation.davis import evaluate_davis
from inovos.evaluation.results import csv_paths
from inovos.formats.palette import read_label_png
from inovos.report.runs import load_run, read_score_csvs


def test_report_rescores_masks_rewritten_after_the_csvs(
    davis: Path, results: Path, tmp_path: Path, capsys, caplog
) -> None:
    run = shutil.copytree(results, tmp_path / "run", copy_function=shutil.copy2)
    fresh = load_run(run, "run", davis, "val", processes=1)
    assert fresh.source == "csv"  # CSVs newer than every mask: read as they are
    old_scores, _, _ = read_score_csvs(run, "val")
    # New masks from another protocol, written over the old ones; the CSVs stay behind.
    argv = ["propagate", "--davis", davis, "--out", run, "--overwrite", *FAST, "--topk", "1"]
    argv += ["--context", "0", "--radius", "1"]
    assert run_cli(argv, capsys, caplog).status == 0
    truth = evaluate_davis(davis, run, processes=1, write_csv=False).global_scores()
    assert truth["J&F-Mean"] != old_scores["J&F-Mean"]
    stale = load_run(run, "run", davis, "val", processes=1)
    assert stale.source == "evaluated"
    assert stale.global_scores == truth
    assert all(p.is_file() for p in csv_paths(run, "val"))  # nothing written into the run
    report = ["report", run, "--davis", davis, "--out", tmp_path / "r.html", "--processes", "1"]
    outcome = run_cli([*report, "--no-progress"], capsys, caplog)
    assert outcome.status == 0
    assert len(outcome.lines) == 1 and "predictions changed after" in outcome.lines[0]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"{100 * truth['J&F-Mean']:.1f}" in page


def test_report_notices_a_deleted_prediction(
    davis: Path, results: Path, tmp_path: Path, capsys, caplog
) -> None:
    run = shutil.copytree(results, tmp_path / "run", copy_function=shutil.copy2)
    first = sorted(p for p in run.iterdir() if p.is_dir())[0]
    sorted(first.glob("*.png"))[-1].unlink()  # the last frame is not scored: still valid
    assert load_run(run, "run", davis, "val", processes=1).source == "evaluated"


def _decodable_frames(path: Path) -> int:
    """Frames a plain PyAV decode gets out of a file before it ends or fails."""
    n = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(video=0):
                n += 1
        except av.error.FFmpegError:
            pass
    return n


def test_truncated_video_stops_and_says_how_many_frames_decode(
    inputs: dict[str, Path], truncated: Path, tmp_path: Path, capsys, caplog
) -> None:
    decodable = _decodable_frames(truncated)
    assert 5 < decodable < 250
    out = tmp_path / "out"
    argv = ["track", truncated, "--mask", inputs["bikesmask"], "--out", out, *FAST]
    outcome = run_cli(argv, capsys, caplog)
    assert outcome.status == 2
    assert len(outcome.lines) == 1
    assert f"only the first {decodable} of the 250 frames" in outcome.lines[0]
    masks = sorted(out.glob("*.png"))
    assert len(masks) <= decodable  # no mask for a frame that was never decoded
    assert not (out / "overlay.mp4").exists()
    # The way out the message gives: exactly the decodable frames, exit 0.
    outcome = run_cli([*argv, "--max-frames", str(decodable)], capsys, caplog)
    assert outcome.status == 0, outcome.lines
    assert len(sorted(out.glob("*.png"))) == decodable
    with av.open(str(out / "overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == decodable


def test_ground_truth_missing_frames_is_said_in_one_line(
    davis: Path, results: Path, tmp_path: Path, capsys, caplog
) -> None:
    root = shutil.copytree(davis, tmp_path / "DAVIS")
    name = sorted((root / "ImageSets" / "2017" / "val.txt").read_text().split())[0]
    (root / "Annotations" / "480p" / name / "00002.png").unlink()
    run = shutil.copytree(results, tmp_path / "run")
    argv = ["evaluate", run, "--davis", root, "--processes", "1", "--no-progress"]
    outcome = run_cli(argv, capsys, caplog)
    assert outcome.status == 0
    assert len(outcome.lines) == 1, outcome.lines
    assert f"sequence '{name}' has no ground truth for 1 frame(s) (00002.png)" in outcome.lines[0]
    scored = evaluate_davis(root, run, processes=1, write_csv=False)
    assert scored.frames[name] == ("00001", "00003")
    # Without the image folder the gap in the frame numbers still shows.
    shutil.rmtree(root / "JPEGImages")
    evaluate_davis(root, run, processes=1, write_csv=False)
    assert "00002.png" in caplog.text


def test_rerun_with_overlays_writes_the_overlays(
    davis: Path, tmp_path: Path, capsys, caplog
) -> None:
    out = tmp_path / "out"
    argv = ["propagate", "--davis", davis, "--out", out, *FAST]
    assert run_cli(argv, capsys, caplog).status == 0
    masks = {p: p.stat().st_mtime_ns for p in out.glob("*/*.png")}
    assert masks and not list(out.glob("*/overlays"))
    outcome = run_cli([*argv, "--overlays"], capsys, caplog)
    assert outcome.status == 0 and "0 already complete" in outcome.out
    for seq in (p for p in out.iterdir() if p.is_dir()):
        names = sorted(p.stem for p in seq.glob("*.png"))
        assert sorted(p.stem for p in (seq / "overlays").glob("*.jpg")) == names
    # Complete now, overlays included: a third run skips every sequence.
    outcome = run_cli([*argv, "--overlays"], capsys, caplog)
    assert "0 sequences propagated" in outcome.out


def test_sequence_listed_twice_is_propagated_and_scored_once(
    davis: Path, tmp_path: Path, capsys, caplog
) -> None:
    root = shutil.copytree(davis, tmp_path / "DAVIS")
    names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    (root / "ImageSets" / "2017" / "dup.txt").write_text("\n".join(names + names[:1]) + "\n")
    out = tmp_path / "out"
    argv = ["propagate", "--davis", root, "--split", "dup", "--out", out, *FAST]
    outcome = run_cli([*argv, "--evaluate"], capsys, caplog)
    assert outcome.status == 0, outcome.lines
    assert f"{len(names)} sequences propagated" in outcome.out
    per_object = (out / "per-sequence_results-dup.csv").read_text().splitlines()[1:]
    objects = sum(
        int(read_label_png(root / "Annotations" / "480p" / n / "00000.png").max()) for n in names
    )
    assert len(per_object) == objects
    assert len({row.split(",")[0] for row in per_object}) == objects
    assert np.isfinite(float(per_object[0].split(",")[1]))
