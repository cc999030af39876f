"""Protocol sweeps: the grid, per-point results equal to single runs, feature reuse, bad input."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from inovos.cli import main
from inovos.errors import InovosError
from inovos.propagation.presets import get_preset
from inovos.segment.feature_cache import CachedFeatures, FeatureCache
from inovos.segment.runner import SegmentOptions
from inovos.segment.sweep import parse_sweep, run_sweep, sweep_points
from inovos.synth import write_synth_davis, write_synth_ytvos
from inovos.vos.davis import DavisDataset

MODEL = ["--model", "random:vit_tiny", "--patch-size", "16", "--short-side", "48"]
QUIET = ["--no-progress"]


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("davis")
    return write_synth_davis(
        root / "d", num_sequences=2, num_frames=5, size=(48, 80), seed=4, progress=False
    )


def _pngs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("*/*.png"))}


def test_parse_sweep_and_grid() -> None:
    axes = parse_sweep(["topk=5,10", " radius = 20,40 ", "temperature=0.05,1e-1"])
    assert axes == [("topk", [5, 10]), ("radius", [20, 40]), ("temperature", [0.05, 0.1])]
    assert isinstance(axes[0][1][0], int) and isinstance(axes[2][1][1], float)
    points = sweep_points(get_preset("ino-davis"), axes)
    assert len(points) == 8
    assert [p.name for p in points[:3]] == [
        "topk5_radius20_temperature0.05",
        "topk5_radius20_temperature0.1",
        "topk5_radius40_temperature0.05",
    ]
    last = points[-1].params
    assert (last.topk, last.radius, last.temperature) == (10, 40, 0.1)
    assert last.n_context == get_preset("ino-davis").n_context  # untouched knobs kept
    context = sweep_points(get_preset("ino-davis"), parse_sweep(["context=3"]))[0]
    assert context.name == "context3" and context.params.n_context == 3


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["topk=5,x"], "'x' is not a whole number"),
        (["radius=2.5"], "'2.5' is not a whole number"),
        (["temperature=abc"], "'abc' is not a number"),
        (["temperature=nan"], "'nan' is not a number"),
        (["temperature=inf"], "'inf' is not a number"),
        (["temperature=1_0"], "'1_0' is not a number"),
        (["foo=1"], "unknown knob 'foo'"),
        (["topk"], "expected KNOB=V1,V2"),
        (["topk="], "empty value"),
        (["topk=5,,10"], "empty value"),
        (["topk=5,5"], "5 is listed twice"),
        (["topk=1", "topk=2"], "topk is given twice"),
    ],
)
def test_parse_sweep_rejects(specs: list[str], message: str) -> None:
    with pytest.raises(InovosError, match=message):
        parse_sweep(specs)


@pytest.mark.parametrize("specs", [["topk=0"], ["temperature=0"], ["radius=-1"], ["context=-2"]])
def test_out_of_range_point_is_rejected(specs: list[str]) -> None:
    with pytest.raises(InovosError, match=r"--sweep point .*propagation parameters"):
        sweep_points(get_preset("ino-davis"), parse_sweep(specs))


def test_sweep_equals_single_runs_and_computes_features_once(
    davis: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "sweep"
    args = ["propagate", "--davis", str(davis), "--out", str(out), *MODEL, *QUIET]
    assert main([*args, "--sweep", "topk=1,5", "radius=1,3"]) == 0
    printed = capsys.readouterr().out
    frames = sum(s.num_frames for s in DavisDataset(davis))
    assert f"features of {frames} frames computed, {3 * frames} read from the cache" in printed
    assert not (out / ".feature-cache").exists(), "the sweep's temporary cache is removed"
    with (out / "sweep.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["point"] for r in table] == [
        "topk1_radius1",
        "topk1_radius3",
        "topk5_radius1",
        "topk5_radius3",
    ]
    assert all(r["frames"] == str(frames) and r["sequences"] == "2" for r in table)
    for row in table:
        single = tmp_path / f"single_{row['point']}"
        knobs = ["--topk", row["topk"], "--radius", row["radius"]]
        base = ["propagate", "--davis", str(davis), "--out", str(single), *MODEL, *QUIET]
        assert main([*base, *knobs]) == 0
        swept, alone = _pngs(out / row["point"]), _pngs(single)
        assert len(swept) == frames and swept == alone
    assert _pngs(out / "topk1_radius1") != _pngs(out / "topk5_radius3")  # the knobs act


def test_kept_cache_serves_a_second_sweep_and_resume_skips(
    davis: Path, tmp_path: Path, capsys
) -> None:
    cache = tmp_path / "cache"
    base = ["propagate", "--davis", str(davis), *MODEL, *QUIET, "--feature-cache", str(cache)]
    assert main([*base, "--out", str(tmp_path / "a"), "--sweep", "temperature=0.1,0.5"]) == 0
    assert any(cache.iterdir())
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "b"), "--sweep", "context=1,2"]) == 0
    frames = sum(s.num_frames for s in DavisDataset(davis))
    assert f"features of 0 frames computed, {2 * frames} read" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "b"), "--sweep", "context=1,2"]) == 0
    assert "features of 0 frames computed, 0 read" in capsys.readouterr().out  # all complete


def test_sweep_with_evaluate_scores_every_point(davis: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    args = ["propagate", "--davis", str(davis), "--out", str(out), *MODEL, *QUIET, "--evaluate"]
    assert main([*args, "--sweep", "topk=1,3"]) == 0
    printed = capsys.readouterr().out
    assert "J&F-Mean" in printed
    with (out / "sweep.csv").open() as f:
        table = list(csv.DictReader(f))
    for row in table:
        official = (out / row["point"] / "global_results-val.csv").read_text().splitlines()
        assert official[1].split(",")[0] == row["J&F-Mean"]
        assert 0.0 <= float(row["J&F-Mean"]) <= 1.0


def test_without_cache_every_point_recomputes(davis: Path, tmp_path: Path, counting_model) -> None:
    model = counting_model
    params = get_preset("ino-davis").__class__(
        **{**vars(get_preset("ino-davis")), "short_side": 48}
    )
    points = sweep_points(params, parse_sweep(["topk=1,2,3"]))
    sequences = list(DavisDataset(davis))
    frames = sum(s.num_frames for s in sequences)
    run_sweep(model, sequences, tmp_path / "plain", SegmentOptions(params), points, False)
    assert model.frames == 3 * frames
    model.frames = 0
    cached = CachedFeatures(FeatureCache(tmp_path / "cache", 1 << 30), "m")
    options = SegmentOptions(params, feature_cache=cached)
    results = run_sweep(model, sequences, tmp_path / "cached", options, points, False)
    assert model.frames == frames
    assert [r.propagated for r in results] == [2, 2, 2]
    for p in points:
        assert _pngs(tmp_path / "plain" / p.name) == _pngs(tmp_path / "cached" / p.name)


@pytest.mark.parametrize(
    "extra",
    [
        ["--sweep", "topk=5,x"],
        ["--sweep", "temperature=warm"],
        ["--sweep", "speed=1,2"],
        ["--sweep", "topk=0,5"],
        ["--topk", "3", "--sweep", "topk=1,2"],
        ["--sweep", "topk=1", "--feature-cache-size", "12Q"],
        ["--sweep", "topk=1", "--feature-cache", "TMP/c", "--no-feature-cache"],
        ["--sweep", "topk=1", "--feature-cache", "TMP/afile"],
    ],
)
def test_bad_sweep_is_one_line_and_writes_nothing(
    davis: Path, tmp_path: Path, capsys, extra: list[str]
) -> None:
    out = tmp_path / "out"
    (tmp_path / "afile").write_text("not a folder")
    extra = [x.replace("TMP", str(tmp_path)) for x in extra]
    args = ["propagate", "--davis", str(davis), "--out", str(out), *MODEL, *QUIET, *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("inovos propagate: error: "), err
    assert not out.exists()
    assert not (tmp_path / "c").exists()


def test_every_point_keeps_its_own_run_record(davis: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    args = ["propagate", "--davis", str(davis), "--out", str(out), *MODEL, *QUIET]
    assert main([*args, "--sweep", "topk=1,3", "--feature-cache", str(tmp_path / "c")]) == 0
    for topk in (1, 3):
        record = json.loads((out / f"topk{topk}" / "run.json").read_text())
        assert record["settings"]["protocol"]["topk"] == topk
        assert record["settings"]["protocol"]["radius"] == get_preset("ino-davis").radius
        assert sorted(record["sequences"]) == sorted(DavisDataset(davis).names)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    # Other settings for the same folders: refused on one line, nothing touched.
    assert main([*args, "--sweep", "topk=1,3", "--radius", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "protocol.radius" in err[0], err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    assert not (out / ".feature-cache").exists()


def test_ytvos_sweep_writes_a_submission_zip_per_point(tmp_path: Path) -> None:
    root = write_synth_ytvos(
        tmp_path / "yt", num_sequences=1, num_frames=6, size=(48, 64), seed=5, progress=False
    )
    out = tmp_path / "out"
    args = ["propagate", "--ytvos", str(root), "--out", str(out), "--model", "pixels"]
    assert main([*args, "--short-side", "32", *QUIET, "--sweep", "context=1,3"]) == 0
    for point in ("context1", "context3"):
        with zipfile.ZipFile(out / point / "Annotations.zip") as z:
            names = {n for n in z.namelist() if n.endswith(".png")}
        assert names and names == {f"Annotations/{p}" for p in _pngs(out / point)}
