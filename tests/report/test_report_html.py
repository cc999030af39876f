"""The HTML report: numbers against the evaluator's CSVs, bars, animations, loss curves,
self-containment, errors; plus the chart, animation and training-log helpers."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inovos.cli import main
from inovos.evaluation.davis import evaluate_davis
from inovos.formats.overlay import overlay
from inovos.formats.palette import VOID_ID, read_label_png, write_label_png
from inovos.report.animation import (
    AnimationOptions,
    encode_animation,
    sample_indices,
    side_by_side,
)
from inovos.report.build import comparison_frames
from inovos.report.charts import bar_chart, format_tick, line_chart, nice_ticks
from inovos.report.html import loss_charts
from inovos.report.train_log import read_train_log
from inovos.synth import write_synth_davis
from inovos.vos.davis import DavisDataset

COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
NUM_FRAMES = 6
SIZE = (48, 80)


# ----------------------------------------------------------------------------- fixtures


def _write_predictions(davis: Path, out: Path, drop_object_after: int | None) -> None:
    """Ground truth as predictions (void -> 0); optionally object 1 removed after a frame."""
    for seq_dir in sorted((davis / "Annotations" / "480p").iterdir()):
        (out / seq_dir.name).mkdir(parents=True)
        for t, png in enumerate(sorted(seq_dir.glob("*.png"))):
            labels = read_label_png(png)
            labels[labels == VOID_ID] = 0
            if drop_object_after is not None and t > drop_object_after:
                labels[labels == 1] = 0
            write_label_png(out / seq_dir.name / png.name, labels)


LOG_RECORDS = [
    {
        "epoch": e,
        "iteration": 50 * (e + 1),
        "seconds": 3.0,
        "partial": False,
        "train": {
            "loss": 6.0 - e,
            "out": 3.0 - 0.2 * e,
            "mim": 1.0 / (e + 1),
            "aff": math.nan if e == 3 else 0.5,
            "lr": 1e-4 * e,
            "loss_scale": 65536.0,
        },
    }
    for e in range(8)
]
PLOTTED = ["train/loss", "train/out", "train/mim", "train/aff", "train/lr"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    davis = write_synth_davis(
        root / "davis", num_sequences=3, num_frames=NUM_FRAMES, size=SIZE, progress=False
    )
    _write_predictions(davis, root / "runA", None)
    _write_predictions(davis, root / "runB", drop_object_after=1)
    evaluate_davis(davis, root / "runA", "val", processes=1)  # CSVs for A only
    log = root / "log.jsonl"
    lines = [json.dumps(r) for r in LOG_RECORDS]
    lines[2:2] = ["not json at all", "[1, 2, 3]", "", '{"note": "no step key"}']
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"root": root, "davis": davis, "runA": root / "runA", "runB": root / "runB", "log": log}


class Page(HTMLParser):
    """Table cells (run -> column -> text), img sources, svg classes, chart titles."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.cells: dict[str, dict[str, str]] = {}
        self.images: list[str] = []
        self.svgs: list[str] = []
        self.titles: list[str] = []
        self._run: str | None = None
        self._capture: tuple[str, str] | None = None
        self._buffer = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-run" in a:
            self._run = a["data-run"]
            self.cells[self._run] = {}
        elif tag == "td" and "data-column" in a:
            self._capture, self._buffer = ("cell", a["data-column"]), ""
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "svg":
            self.svgs.append(a.get("class", ""))
        elif tag == "text" and a.get("class") == "chart-title":
            self._capture, self._buffer = ("title", ""), ""

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._buffer += data

    def handle_endtag(self, tag: str) -> None:
        if self._capture is None or tag not in ("td", "text"):
            return
        if self._capture[0] == "cell" and self._run is not None:
            self.cells[self._run][self._capture[1]] = self._buffer.strip()
        elif self._capture[0] == "title":
            self.titles.append(self._buffer)
        self._capture = None


def _report(
    data: dict[str, Path], out: Path, *extra: str, runs: tuple[str, ...] = ("runA",)
) -> str:
    argv = ["report", *(str(data[r]) for r in runs), "--davis", str(data["davis"])]
    assert main([*argv, "--out", str(out), "--processes", "1", *extra]) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def two_runs(data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Report of runA (CSVs) and runB (no CSVs), GIF animations, with the training log."""
    out = tmp_path_factory.mktemp("out") / "sub" / "report.html"
    log = str(data["log"])
    return _report(data, out, "--train-log", log, "--format", "gif", runs=("runA", "runB"))


def _read_global(path: Path) -> dict[str, float]:
    with path.open(newline="") as f:
        row = next(csv.DictReader(f))
    return {c: float(row[c]) for c in COLUMNS}


def _sequence_jf(path: Path) -> dict[str, float]:
    """Per-sequence J&F (%) from a per-object CSV: mean over objects of (J + F) / 2."""
    per_seq: dict[str, list[float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            seq = row["Sequence"].rsplit("_", 1)[0]
            per_seq.setdefault(seq, []).append(50 * (float(row["J-Mean"]) + float(row["F-Mean"])))
    return {s: sum(v) / len(v) for s, v in per_seq.items()}


def _decode(uri: str) -> list[np.ndarray]:
    _, payload = uri.split(",", 1)
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    frames = []
    for k in range(getattr(image, "n_frames", 1)):
        image.seek(k)
        frames.append(np.asarray(image.convert("RGB")).astype(np.float64))
    return frames


def _reference_frames(data: dict[str, Path], run: Path, seq: str) -> list[np.ndarray]:
    """Plain reference: full-size overlays (the fixture frames are under 320 px wide)."""
    frames = sorted((data["davis"] / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    out = []
    for path in frames:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        truth = read_label_png(data["davis"] / "Annotations" / "480p" / seq / f"{path.stem}.png")
        pred = read_label_png(run / seq / f"{path.stem}.png")
        left, right = overlay(rgb, truth, contours=True), overlay(rgb, pred, contours=True)
        out.append(side_by_side(left, right).astype(np.float64))
    return out


# ----------------------------------------------------------------------------- the page


def test_table_matches_the_csvs_and_the_evaluator(data: dict[str, Path], two_runs: str) -> None:
    page = Page(two_runs)
    assert set(page.cells) == {"runA", "runB"}
    expected_a = _read_global(data["runA"] / "global_results-val.csv")
    for column in COLUMNS:
        assert page.cells["runA"][column] == f"{100 * expected_a[column]:.1f}"
    # runB had no CSVs: the report scored it without writing into the folder ...
    assert not (data["runB"] / "global_results-val.csv").exists()
    # ... and shows what `inovos evaluate` writes
    result = evaluate_davis(data["davis"], data["runB"], "val", processes=1, write_csv=False)
    expected_b = result.global_scores()
    for column in COLUMNS:
        assert page.cells["runB"][column] == f"{100 * expected_b[column]:.1f}"
    assert expected_b["J&F-Mean"] < expected_a["J&F-Mean"] == 1.0  # the perturbation shows


def test_one_bar_chart_with_one_bar_per_run_and_sequence(
    data: dict[str, Path], two_runs: str
) -> None:
    page = Page(two_runs)
    assert page.svgs.count("chart bar-chart") == 1
    bars = re.findall(
        r'<rect class="bar"[^>]* width="([\d.]+)"[^>]*><title>([^<]*)</title>', two_runs
    )
    sequences = (data["davis"] / "ImageSets" / "2017" / "val.txt").read_text().split()
    assert len(bars) == 2 * len(sequences)
    widths = {label.split(":")[0]: float(w) for w, label in bars}
    jf_a = _sequence_jf(data["runA"] / "per-sequence_results-val.csv")
    full = widths[f"runA / {sequences[0]}"]  # runA is perfect: 100 %
    result = evaluate_davis(data["davis"], data["runB"], "val", processes=1, write_csv=False)
    for seq in sequences:
        assert jf_a[seq] == pytest.approx(100.0)
        assert widths[f"runA / {seq}"] == pytest.approx(full)
        jf_b = result.per_sequence()[seq].jf_mean
        assert widths[f"runB / {seq}"] / full == pytest.approx(jf_b, abs=1e-3)


def test_one_animation_per_sequence_showing_truth_beside_prediction(
    data: dict[str, Path], two_runs: str
) -> None:
    page = Page(two_runs)
    sequences = (data["davis"] / "ImageSets" / "2017" / "val.txt").read_text().split()
    gifs = [src for src in page.images if src.startswith("data:image/gif;base64,")]
    assert len(gifs) == len(page.images) == len(sequences)
    for seq, uri in zip(sequences, gifs, strict=True):
        frames = _decode(uri)
        reference = _reference_frames(data, data["runA"], seq)
        assert len(frames) == NUM_FRAMES
        assert frames[0].shape == (SIZE[0], 2 * SIZE[1] + 6, 3)
        for got, want in zip(frames, reference, strict=True):
            assert np.abs(got - want).mean() < 4.0  # GIF palette quantisation only


def test_animation_frames_subsampled_and_run_chosen(data: dict[str, Path], tmp_path: Path) -> None:
    page = Page(
        _report(
            data,
            tmp_path / "r.html",
            "--format",
            "gif",
            "--max-frames",
            "4",
            "--animate",
            "runB",
            runs=("runA", "runB"),
        )
    )
    seq = (data["davis"] / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    frames = _decode(page.images[0])
    truth_right = _reference_frames(data, data["runA"], seq)
    reference = _reference_frames(data, data["runB"], seq)
    picks = [0, 2, 3, 5]  # 4 of 6 evenly spaced, first and last included
    assert len(frames) == len(picks)
    right = slice(SIZE[1] + 6, None)
    for got, t in zip(frames, picks, strict=True):
        errors = [np.abs(got - ref).mean() for ref in reference]
        assert errors[t] < 4.0 and int(np.argmin(errors)) == t
        if t > 1:  # runB dropped object 1 here: the right panel shows runB, not the truth
            mine = np.abs(got[:, right] - reference[t][:, right]).mean()
            assert mine < 0.7 * np.abs(got[:, right] - truth_right[t][:, right]).mean()


def test_comparison_frames_equal_a_plain_reference(data: dict[str, Path]) -> None:
    dataset = DavisDataset(data["davis"], "val")
    seq = dataset.names[1]
    options = AnimationOptions(max_frames=4)
    frames = comparison_frames(dataset.sequence(seq), data["runB"] / seq, options)
    reference = _reference_frames(data, data["runB"], seq)
    assert len(frames) == 4
    for got, t in zip(frames, [0, 2, 3, 5], strict=True):
        np.testing.assert_array_equal(got, reference[t])
    small = comparison_frames(dataset.sequence(seq), data["runB"] / seq, AnimationOptions(width=20))
    assert len(small) == NUM_FRAMES and small[0].shape == (12, 2 * 20 + 6, 3)


def test_default_animation_is_webp_and_halves_shrink_to_width(
    data: dict[str, Path], tmp_path: Path
) -> None:
    page = Page(_report(data, tmp_path / "r.html", "--width", "40"))
    assert page.images and all(s.startswith("data:image/webp;base64,") for s in page.images)
    frames = _decode(page.images[0])
    assert len(frames) == NUM_FRAMES
    assert frames[0].shape == (24, 2 * 40 + 6, 3)  # 48x80 -> 24x40 per panel


def test_loss_curves_from_the_training_log(two_runs: str) -> None:
    page = Page(two_runs)
    assert page.svgs.count("chart line-chart") == len(PLOTTED)
    assert page.titles[-len(PLOTTED) :] == PLOTTED  # losses first, then terms, then lr
    lines = re.findall(r'<polyline class="series" points="([^"]*)"', two_runs)
    counts = [len(points.split()) for points in lines]
    assert counts == [8, 8, 8, 7, 8]  # one NaN aff value skipped
    assert "loss_scale" not in two_runs


def test_no_training_section_without_log_and_no_external_urls(
    data: dict[str, Path], two_runs: str, tmp_path: Path
) -> None:
    single = _report(data, tmp_path / "r.html")
    assert "line-chart" not in single and "Training" not in single
    for text in (single, two_runs):
        lowered = text.lower()
        for needle in ('src="http', "href=", "url(", "<script", "<link", "@import"):
            assert needle not in lowered


def test_names_are_escaped(data: dict[str, Path], tmp_path: Path) -> None:
    text = _report(data, tmp_path / "r.html", "--names", '<b>A&"x,B', runs=("runA", "runB"))
    assert "<b>A" not in text
    assert Page(text).cells.keys() == {'<b>A&"x', "B"}


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "empty",
        "log",
        "out_is_dir",
        "out_under_file",
        "names",
        "animate",
        "davis",
        "frames",
    ],
)
def test_errors_exit_2(
    case: str, data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results, out, extra = str(data["runA"]), str(tmp_path / "r.html"), []
    davis = str(data["davis"])
    expect = ""
    if case == "missing":
        results = expect = str(tmp_path / "nope")
    elif case == "empty":
        (tmp_path / "empty" / "seq").mkdir(parents=True)
        results = expect = str(tmp_path / "empty")
    elif case == "log":
        extra, expect = ["--train-log", str(tmp_path / "no.jsonl")], "no.jsonl"
    elif case == "out_is_dir":
        out = expect = str(tmp_path)
    elif case == "out_under_file":
        (tmp_path / "file").write_text("x")
        out, expect = str(tmp_path / "file" / "r.html"), "r.html"
    elif case == "names":
        extra, expect = ["--names", "a,b"], "--names"
    elif case == "animate":
        extra, expect = ["--animate", "zzz"], "zzz"
    elif case == "frames":
        extra, expect = ["--max-frames", "0"], "--max-frames"
    elif case == "davis":
        davis = expect = str(tmp_path / "nodavis")
    code = main(["report", results, "--davis", davis, "--out", out, "--processes", "1", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("inovos report: error: ") and expect in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0, 1), (0.4, 0.6), (0, 2000), (1e-6, 3e-6), (-3, 250000), (5, 5), (0.123, 0.1234)],
)
def test_nice_ticks_cover_the_range_with_round_steps(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi and 3 <= len(ticks) <= 9
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    labels = [format_tick(t, ticks) for t in ticks]
    assert len(set(labels)) == len(labels)  # every tick label distinct


def test_format_tick_hand_cases() -> None:
    assert [format_tick(t, [0, 0.25, 0.5]) for t in (0, 0.25, 0.5)] == ["0", "0.25", "0.50"]
    assert format_tick(1500.0, [0, 500, 1000, 1500]) == "1500"
    assert format_tick(5e-5, [0, 2.5e-5, 5e-5]) == "5.0e-5"
    assert format_tick(7.5e-5, [0, 2.5e-5, 5e-5, 7.5e-5, 1e-4]) == "0.75e-4"


def test_bar_chart_widths_are_proportional_and_missing_values_marked() -> None:
    svg = bar_chart(["a", "b"], [("r1", [50.0, None]), ("r2", [100.0, 25.0])], max_value=100)
    widths = [float(w) for w in re.findall(r'class="bar"[^>]* width="([\d.]+)"', svg)]
    assert len(widths) == 3  # None draws no bar
    assert widths[0] / widths[1] == pytest.approx(0.5, abs=1e-3)
    assert widths[2] / widths[1] == pytest.approx(0.25, abs=1e-3)
    assert "n/a" in svg


def test_line_chart_maps_points_linearly() -> None:
    xs, ys = [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 2.0, 4.0]
    svg = line_chart([("loss", xs, ys)], title="loss <1>")
    (points,) = re.findall(r'class="series" points="([^"]*)"', svg)
    px, py = np.array([[float(v) for v in p.split(",")] for p in points.split()]).T
    assert np.allclose(np.diff(px), px[1] - px[0], atol=0.15) and px[1] > px[0]
    # screen y grows downwards: a linear, decreasing function of the value
    np.testing.assert_allclose((py - py[0]) / (py[1] - py[0]), (np.array(ys) - 1) / 2, atol=1e-2)
    assert "loss &lt;1&gt;" in svg and "loss <1>" not in svg


def test_sample_indices_hand_cases() -> None:
    assert sample_indices(6, 4) == [0, 2, 3, 5]
    assert sample_indices(3, 40) == [0, 1, 2]
    assert sample_indices(100, 1) == [0]
    assert sample_indices(0, 5) == []
    picks = sample_indices(1000, 40)
    assert len(picks) == 40 and picks[0] == 0 and picks[-1] == 999


def test_encode_animation_round_trip() -> None:
    rng = np.random.default_rng(0)
    frames = [np.full((10, 12, 3), 40 * k, np.uint8) for k in range(5)]
    frames[2][:5] = rng.integers(0, 255, (5, 12, 3), dtype=np.uint8)
    data = encode_animation(frames, AnimationOptions(image_format="gif", fps=5))
    image = Image.open(io.BytesIO(data))
    assert image.format == "GIF" and image.n_frames == 5 and image.info["duration"] == 200
    image.seek(4)
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), frames[4])


def test_train_log_is_robust_and_picks_the_step_key(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    lines = [
        '{"step": 1, "loss_total": 2.5, "out_l2g": 1.0, "acc": 0.3, "flag": true}',
        "garbage {",
        '"a string"',
        '{"step": 2, "loss_total": 2.0, "out_l2g": "x", "epoch": 0}',
        '{"epoch": 1, "loss_total": 9.0}',
        '{"step": 3, "loss_total": Infinity}',
    ]
    log.write_text("\n".join(lines), encoding="utf-8")
    parsed = read_train_log(log)
    assert parsed.x_key == "step" and parsed.skipped_lines == 2
    assert parsed.curves == {"loss_total": ([1.0, 2.0], [2.5, 2.0]), "out_l2g": ([1.0], [1.0])}


def test_train_log_without_usable_records_gives_a_note(tmp_path: Path) -> None:
    log = tmp_path / "junk.jsonl"
    log.write_text('nothing\n{"epoch": 1, "acc": 0.5}\n{"loss": 1.0}\n', encoding="utf-8")
    parsed = read_train_log(log)
    assert parsed.curves == {} and parsed.skipped_lines == 1
    assert "No loss values found" in loss_charts(parsed)
