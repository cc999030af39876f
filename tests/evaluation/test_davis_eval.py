"""The DAVIS runner, its CSVs and the `inovos evaluate` command on a generated DAVIS-layout folder.

Compared with (a) a plain re-statement of the official davis2017-evaluation pipeline
whose per-frame numbers come from vos-benchmark's functions, and (b) vos-benchmark's
own `benchmark()` entry on data where its conventions coincide with the official ones
(no void, every object present in the first scored frame).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from vos_benchmark.benchmark import benchmark as vb_benchmark
from vos_benchmark.evaluator import Evaluator

from inovos.cli import main
from inovos.errors import InovosError
from inovos.evaluation.davis import evaluate_davis
from inovos.evaluation.results import GLOBAL_COLUMNS, csv_paths
from inovos.formats.palette import read_label_png, write_label_png

# (name, (H, W), frames, objects, void, drop one object from every prediction)
SEQUENCES = [
    ("bear", (24, 40), 8, 2, False, False),
    ("dance", (37, 53), 6, 3, True, True),
    ("tiny", (9, 11), 4, 1, False, False),
    ("wide", (123, 457), 5, 2, True, False),
]


def _sequence(rng, shape, frames, k, void, drop):
    """Moving discs (all present in frames 0 and 1), and an imperfect prediction."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    cx = (np.arange(k) + 0.5) / k * w
    cy = rng.uniform(0.35, 0.65, k) * h
    radius = np.minimum(0.4 * w / k, 0.3 * h) + 0.6
    vel = rng.normal(0, 0.04 * min(h, w) + 0.3, (k, 2))
    gts, preds = [], []
    for t in range(frames):
        gt = np.zeros(shape, np.uint8)
        for obj in range(k):
            if t >= 2 and rng.random() < 0.2:
                continue  # object absent in this frame
            y, x = cy[obj] + t * vel[obj, 0], cx[obj] + t * vel[obj, 1]
            gt[(yy - y) ** 2 + (xx - x) ** 2 < radius**2] = obj + 1
        clean = gt.copy()
        if void:
            gt[rng.random(shape) < 0.05] = 255
        choice = rng.integers(4)
        if choice == 0:
            pred = np.roll(clean, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), (0, 1))
        elif choice == 1:
            pred = np.where(rng.random(shape) < 0.9, clean, 0).astype(np.uint8)
        elif choice == 2:
            pred = np.zeros_like(clean)  # nothing predicted
        else:
            pred = clean.copy()
        if drop:
            pred[pred == k] = 0  # fewer ids than objects
        gts.append(gt)
        preds.append(pred)
    return gts, preds


def make_davis(root: Path, seed: int = 0, void: bool = True) -> Path:
    """Write Annotations/480p, ImageSets/2017/val.txt and a results folder; return the latter."""
    rng = np.random.default_rng(seed)
    results = root / "results"
    for name, shape, frames, k, has_void, drop in SEQUENCES:
        gts, preds = _sequence(rng, shape, frames, k, has_void and void, drop)
        (root / "Annotations" / "480p" / name).mkdir(parents=True)
        (results / name).mkdir(parents=True)
        for t, (gt, pred) in enumerate(zip(gts, preds, strict=True)):
            write_label_png(root / "Annotations" / "480p" / name / f"{t:05d}.png", gt)
            write_label_png(results / name / f"{t:05d}.png", pred)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{s[0]}\n" for s in SEQUENCES))
    return results


# --------------------------------------------------------------------------------------
# Reference: the official pipeline, per-frame values from vos-benchmark's functions.


def _vb_frame(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    ev = Evaluator()
    ev.objects_in_gt.add(1)
    ev.feed_frame(pred.astype(np.uint8), gt.astype(np.uint8))
    return ev.object_iou[1][0], ev.boundary_f[1][0]


def _ref_statistics(values: np.ndarray) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.uint8)
        bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
        return (
            np.nanmean(values),
            np.nanmean(values > 0.5),
            np.nanmean(bins[0]) - np.nanmean(bins[3]),
        )


def official_reference(root: Path, results: Path):
    per_object, stats = {}, {"J": [], "F": []}
    for name in (root / "ImageSets" / "2017" / "val.txt").read_text().split():
        files = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
        gt = np.stack([read_label_png(f) for f in files]).astype(np.float64)
        gt[gt == 255] = 0
        k = int(gt[0].max())
        ids = [f.stem for f in files][1:-1]
        res = np.stack([read_label_png(results / name / f"{i}.png") for i in ids]).astype(
            np.float64
        )
        for obj in range(1, k + 1):
            values = [_vb_frame(res[t] == obj, gt[t + 1] == obj) for t in range(len(ids))]
            j, f = (np.array([v[i] for v in values]) for i in (0, 1))
            per_object[f"{name}_{obj}"] = (j, f)
            stats["J"].append(_ref_statistics(j))
            stats["F"].append(_ref_statistics(f))
    jm, fm = (np.mean([s[0] for s in stats[m]]) for m in "JF")
    glob = [(jm + fm) / 2.0, jm, *(np.mean([s[i] for s in stats["J"]]) for i in (1, 2))]
    glob += [fm, *(np.mean([s[i] for s in stats["F"]]) for i in (1, 2))]
    return dict(zip(GLOBAL_COLUMNS, glob, strict=True)), per_object


# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("davis")
    return root, make_davis(root)


def test_runner_equals_the_official_pipeline(dataset) -> None:
    root, results = dataset
    result = evaluate_davis(root, results, processes=1, write_csv=False)
    ref_global, ref_objects = official_reference(root, results)
    assert [o.name for o in result.objects] == list(ref_objects)
    assert len(result.objects) == 2 + 3 + 1 + 2
    for obj in result.objects:
        ref_j, ref_f = ref_objects[obj.name]
        np.testing.assert_allclose(obj.j, ref_j, rtol=0, atol=1e-12)
        np.testing.assert_allclose(obj.f, ref_f, rtol=0, atol=1e-12)
    ours = result.global_scores()
    for column in GLOBAL_COLUMNS:
        assert ours[column] == pytest.approx(ref_global[column], abs=1e-12), column
    assert result.frames["bear"] == tuple(f"{t:05d}" for t in range(1, 7))
    # The dropped object (dance_3) is scored as an empty prediction: J = 0 where it exists.
    assert result.objects[4].name == "dance_3" and result.objects[4].j_stats[0] < 0.5


def test_processes_give_identical_numbers(dataset) -> None:
    root, results = dataset
    one = evaluate_davis(root, results, processes=1, write_csv=False)
    two = evaluate_davis(root, results, processes=2, write_csv=False)
    assert one.global_scores() == two.global_scores()
    for a, b in zip(one.objects, two.objects, strict=True):
        np.testing.assert_array_equal(a.j, b.j)
        np.testing.assert_array_equal(a.f, b.f)


def test_unguarded_script_runs_its_top_level_once(dataset, tmp_path) -> None:
    # Pool workers must not re-run a caller's script that lacks `if __name__ == ...`.
    root, results = dataset
    runs = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from inovos.evaluation.davis import evaluate_davis\n"
        f"open({str(runs)!r}, 'a').write('ran\\n')\n"
        f"r = evaluate_davis({str(root)!r}, {str(results)!r}, processes=2, write_csv=False)\n"
        "print(repr(r.global_scores()['J&F-Mean']))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    expected = evaluate_davis(root, results, processes=1, write_csv=False)
    assert float(done.stdout.strip()) == expected.global_scores()["J&F-Mean"]
    assert runs.read_text() == "ran\n"


def test_runner_equals_vos_benchmark(tmp_path) -> None:
    results = make_davis(tmp_path, seed=3, void=False)
    result = evaluate_davis(tmp_path, results, processes=1, write_csv=False)
    vb_jf, vb_j, vb_f, vb_objects = vb_benchmark(
        [str(tmp_path / "Annotations" / "480p")], [str(results)], num_processes=1, verbose=False
    )
    for obj in result.objects:
        iou, boundary = vb_objects[0][obj.sequence]
        assert abs(100 * obj.j_stats[0] - iou[obj.object_id]) < 1e-6
        assert abs(100 * obj.f_stats[0] - boundary[obj.object_id]) < 1e-6
    scores = result.global_scores()
    assert abs(100 * scores["J-Mean"] - vb_j[0]) < 1e-6
    assert abs(100 * scores["F-Mean"] - vb_f[0]) < 1e-6
    assert abs(100 * scores["J&F-Mean"] - vb_jf[0]) < 1e-6


def test_csvs_official_format_and_stale_files_overwritten(tmp_path) -> None:
    results = make_davis(tmp_path)
    global_path, per_seq_path = csv_paths(results, "val")
    global_path.write_text("J&F-Mean\n0.999\n")
    per_seq_path.write_text("stale\n")
    result = evaluate_davis(tmp_path, results, processes=1)
    assert (result.global_csv, result.per_sequence_csv) == (global_path, per_seq_path)
    scores = result.global_scores()
    lines = global_path.read_text().splitlines()
    assert lines[0] == "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay"
    assert lines[1] == ",".join(f"{scores[c]:.3f}" for c in GLOBAL_COLUMNS)
    assert len(lines) == 2
    rows = per_seq_path.read_text().splitlines()
    assert rows[0] == "Sequence,J-Mean,F-Mean"
    assert [r.split(",")[0] for r in rows[1:]] == [o.name for o in result.objects]
    assert (
        rows[1] == f"bear_1,{result.objects[0].j_stats[0]:.3f},{result.objects[0].f_stats[0]:.3f}"
    )
    assert sorted(p.name for p in results.iterdir() if p.is_file()) == sorted(
        [global_path.name, per_seq_path.name, "summary-val.json"]
    )  # no temporary files left behind
    per_seq = result.per_sequence()
    bear = [o for o in result.objects if o.sequence == "bear"]
    assert per_seq["bear"].jf_mean == pytest.approx(
        np.mean([(o.j_stats[0] + o.f_stats[0]) / 2 for o in bear])
    )


def test_sequence_subset_and_unneeded_first_last_predictions(tmp_path) -> None:
    results = make_davis(tmp_path)
    (results / "tiny" / "00000.png").unlink()
    (results / "tiny" / "00003.png").unlink()
    result = evaluate_davis(
        tmp_path, results, processes=1, sequences=["tiny", "bear"], write_csv=False
    )
    assert result.sequences == ("tiny", "bear")
    assert [o.name for o in result.objects] == ["tiny_1", "bear_1", "bear_2"]


def test_sequence_listed_twice_is_scored_once(dataset, tmp_path) -> None:
    """A name repeated in the split file counts once, like the official tool, and the
    dataset reader and the evaluator read the same list."""
    root, results = dataset
    once = evaluate_davis(root, results, processes=1, write_csv=False)
    split = root / "ImageSets" / "2017" / "dup.txt"
    split.write_text("bear\ntiny\n\n bear \ndance\nwide\ntiny\n")
    twice = evaluate_davis(root, results, split="dup", processes=1, write_csv=False)
    assert twice.sequences == ("bear", "tiny", "dance", "wide")
    assert sorted(o.name for o in twice.objects) == sorted(o.name for o in once.objects)
    assert twice.global_scores() == pytest.approx(once.global_scores(), abs=1e-12)
    from inovos.vos.davis import DavisDataset

    frames = root / "JPEGImages" / "480p"
    for name, (h, w), n, *_ in SEQUENCES:
        (frames / name).mkdir(parents=True, exist_ok=True)
        for t in range(n):
            Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(frames / name / f"{t:05d}.jpg")
    assert DavisDataset(root, split="dup").names == twice.sequences


# --------------------------------------------------------------------------------------
# Errors: every user mistake is one InovosError naming the problem.


def _bad(tmp_path: Path, match: str, **kwargs) -> None:
    kwargs.setdefault("processes", 1)
    with pytest.raises(InovosError, match=match) as info:
        evaluate_davis(**kwargs)
    assert "\n" not in str(info.value)


def test_errors_for_missing_inputs(tmp_path) -> None:
    results = make_davis(tmp_path)
    _bad(tmp_path, "DAVIS root folder not found", davis_root=tmp_path / "x", results_dir=results)
    _bad(tmp_path, "results folder not found", davis_root=tmp_path, results_dir=tmp_path / "r")
    _bad(
        tmp_path,
        r"test\.txt: DAVIS split file not found",
        davis_root=tmp_path,
        results_dir=results,
        split="test",
    )
    _bad(
        tmp_path,
        "'nope' is not listed",
        davis_root=tmp_path,
        results_dir=results,
        sequences=["nope"],
    )
    _bad(tmp_path, "at least 1", davis_root=tmp_path, results_dir=results, processes=0)
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("bear\nghost\n")
    _bad(tmp_path, "no ground truth for sequence 'ghost'", davis_root=tmp_path, results_dir=results)
    (tmp_path / "Annotations" / "480p").rename(tmp_path / "Annotations" / "x")
    _bad(tmp_path, "480p: annotation folder not found", davis_root=tmp_path, results_dir=results)


def test_errors_for_bad_predictions(tmp_path) -> None:
    results = make_davis(tmp_path)
    kw = {"davis_root": tmp_path, "results_dir": results}
    for t in (1, 2, 5):
        (results / "bear" / f"{t:05d}.png").unlink()
    _bad(
        tmp_path,
        r"bear: 3 of 6 predicted frames missing .*00001\.png, 00002\.png, 00005\.png",
        **kw,
    )
    (results / "tiny").rename(results / "tiny-x")
    _bad(tmp_path, "no predictions for sequence 'tiny'", **kw, sequences=["tiny"])
    write_label_png(results / "wide" / "00002.png", np.zeros((10, 10), np.uint8))
    _bad(
        tmp_path,
        r"00002\.png: prediction is 10x10 but the ground truth .* is 457x123",
        **kw,
        sequences=["wide"],
    )
    pred = read_label_png(results / "dance" / "00003.png")
    pred[0, 0] = 5
    write_label_png(results / "dance" / "00003.png", pred)
    msg = "sequence dance frame 00003 has id 5 but the ground truth has 3 objects"
    _bad(tmp_path, msg, **kw, sequences=["dance"])
    _bad(tmp_path, msg, **kw, sequences=["dance"], processes=2)  # raised in a worker
    (results / "dance" / "00003.png").write_bytes(b"not a png")
    _bad(tmp_path, r"dance/00003\.png: cannot read", **kw, sequences=["dance"])


def test_error_for_too_short_sequence(tmp_path) -> None:
    results = make_davis(tmp_path)
    for t in (1, 2, 3):
        (tmp_path / "Annotations" / "480p" / "tiny" / f"{t:05d}.png").unlink()
    _bad(tmp_path, "'tiny' has 1 annotated frame", davis_root=tmp_path, results_dir=results)


# --------------------------------------------------------------------------------------
# The command line.


def test_cli_end_to_end(tmp_path, capsys) -> None:
    results = make_davis(tmp_path)
    code = main(
        ["evaluate", str(results), "--davis", str(tmp_path), "--processes", "1", "--per-sequence"]
    )
    out = capsys.readouterr().out
    assert code == 0
    reference = evaluate_davis(tmp_path, results, processes=1, write_csv=False)
    global_path, per_seq_path = csv_paths(results, "val")
    assert f"wrote {global_path}" in out and f"wrote {per_seq_path}" in out
    assert "dance_3" in out and "J&F-Mean" in out
    expected = ",".join(f"{v:.3f}" for v in reference.global_scores().values())
    assert global_path.read_text().splitlines()[1] == expected
    assert f"{100 * reference.global_scores()['J&F-Mean']:.1f}" in out
    assert len(per_seq_path.read_text().splitlines()) == 1 + 8


def test_cli_bad_case_exits_2_with_one_line(tmp_path, capsys) -> None:
    make_davis(tmp_path)
    code = main(
        ["evaluate", str(tmp_path / "missing"), "--davis", str(tmp_path), "--processes", "1"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "results folder not found" in err


def test_cli_help_explains_options(capsys) -> None:
    assert main(["evaluate", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--davis", "--split", "--processes", "--sequences", "--per-sequence", "RESULTS"):
        assert option in out
