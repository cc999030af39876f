"""Hostile inputs over every command: one line on stderr naming the problem, exit 2,
and nothing half-written left behind.

Each case is ``inovos ARGV`` with placeholders: ``{out}`` (a fresh output path),
``{scratch}`` (the case's own folder), ``{full}`` (a 1 MB tmpfs filled up to about
12 KB, mounted for the case), the shared inputs of ``conftest.py`` (``{davis}``,
``{results}``, ``{video}``, ``{mask}``, ``{afile}`` (a regular file), ``{empty}`` (0
bytes), ``{garbage}`` ...) and ``{checkpoint}`` (a real one-step training checkpoint).
After the command, every file under the case's folder (and the tmpfs) must be whole.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FAST, assert_complete_files, file_states, fill, run_cli, small_disk

from inovos.formats.palette import read_label_png, write_label_png

Setup = Callable[[dict[str, Path]], None]


@dataclass(frozen=True)
class Case:
    """One hostile command line and what the user must see."""

    id: str
    argv: list[str]
    message: str  # regex the one stderr line must match
    status: int = 2
    setup: Setup | None = field(default=None, compare=False)
    free: int = 12 * 1024  # bytes left on the full disk


def _copy_results(paths: dict[str, Path]) -> None:
    shutil.copytree(paths["results"], paths["full"] / "results")


def _own_results(paths: dict[str, Path]) -> Path:
    return Path(shutil.copytree(paths["results"], paths["scratch"] / "res"))


def _own_davis(paths: dict[str, Path]) -> Path:
    return Path(shutil.copytree(paths["davis"], paths["scratch"] / "D"))


def _first_prediction(paths: dict[str, Path]) -> Path:
    results = _own_results(paths)
    return sorted(results.glob("*/00001.png"))[0]


def _empty_prediction(paths: dict[str, Path]) -> None:
    _first_prediction(paths).write_bytes(b"")


def _small_prediction(paths: dict[str, Path]) -> None:
    write_label_png(_first_prediction(paths), np.zeros((10, 12), np.uint8))


def _unknown_id_prediction(paths: dict[str, Path]) -> None:
    path = _first_prediction(paths)
    labels = read_label_png(path)
    labels[0, 0] = 9
    write_label_png(path, labels)


def _missing_prediction(paths: dict[str, Path]) -> None:
    _first_prediction(paths).unlink()


def _empty_ground_truth(paths: dict[str, Path]) -> None:
    davis = _own_davis(paths)
    sorted((davis / "Annotations" / "480p").glob("*/00002.png"))[0].write_bytes(b"")


def _empty_frame(paths: dict[str, Path]) -> None:
    davis = _own_davis(paths)
    sorted((davis / "JPEGImages" / "480p").glob("*/00002.jpg"))[0].write_bytes(b"")


def _video_folder(paths: dict[str, Path]) -> None:
    (paths["scratch"] / "videos").mkdir()
    shutil.copy(paths["video"], paths["scratch"] / "videos" / "clip.mp4")


def _empty_split(paths: dict[str, Path]) -> None:
    (_own_davis(paths) / "ImageSets" / "2017" / "empty.txt").write_bytes(b"")


def _empty_log(paths: dict[str, Path]) -> None:
    (paths["scratch"] / "log.jsonl").write_bytes(b"")


def _garbage_log(paths: dict[str, Path]) -> None:
    (paths["scratch"] / "log.jsonl").write_text("not json\n{also not\n")


def _nonempty_out(paths: dict[str, Path]) -> None:
    (paths["out"]).mkdir()
    (paths["out"] / "keep.txt").write_text("user data\n")


P = ["propagate", "--davis", "{davis}", "--out", "{out}", *FAST]
T = ["track", "{video}", "--mask", "{mask}", "--out", "{out}", *FAST]
E = ["evaluate", "{results}", "--davis", "{davis}", "--processes", "1", "--no-progress"]
R = ["report", "{results}", "--davis", "{davis}", "--processes", "1", "--no-progress"]
R += ["--out", "{out}/r.html"]
S = ["synth", "davis", "{out}", "--sequences", "1", "--frames", "3"]
S += ["--height", "32", "--width", "48", "--no-progress"]
ONE_CLIP = ["optim.clips_per_gpu=1"]  # the 8-frame test video holds 3 clips
TRAIN = ["train", "--preset", "tiny-cpu", "--data", "{scratch}/videos", "--output", "{out}"]
TRAIN += [*ONE_CLIP, "run.max_iters=1"]
RANGE = r"argument {}: must be a[n]? (integer|number) .*got {}"


def _range(option: str, value: str) -> str:
    return RANGE.format(re.escape(option), re.escape(value))


CASES = [
    # --- synth ----------------------------------------------------------------------
    Case("synth-frames-1", [*S, "--frames", "1"], _range("--frames", "1")),
    Case("synth-height-8", [*S, "--height", "8"], _range("--height", "8")),
    Case("synth-width-huge", [*S, "--width", "100000"], _range("--width", "100000")),
    Case("synth-objects-0", [*S, "--objects", "0"], _range("--objects", "0")),
    Case("synth-objects-255", [*S, "--objects", "255"], _range("--objects", "255")),
    Case("synth-void-prob-2", [*S, "--void-prob", "2"], _range("--void-prob", "2")),
    Case("synth-seed-negative", [*S, "--seed", "-1"], _range("--seed", "-1")),
    Case("synth-sequences-abc", [*S, "--sequences", "abc"], _range("--sequences", "'abc'")),
    Case("synth-texture-unknown", [*S, "--textures", "nosuch"], "unknown texture 'nosuch'"),
    Case("synth-out-is-file", ["synth", "davis", "{afile}"], r"afile: output exists"),
    Case("synth-out-under-file", [*S[:2], "{afile}/out", *S[3:]], r"afile/out.*Not a directory"),
    Case("synth-out-not-empty", S, r"out: output folder is not empty", setup=_nonempty_out),
    Case("synth-full-disk", [*S[:2], "{full}/out", *S[3:]], r"No space left on device"),
    Case(
        "synth-ytvos-stride-0",
        ["synth", "ytvos", "{out}", "--stride", "0"],
        _range("--stride", "0"),
    ),
    Case(
        "synth-ytvos-full-disk",
        ["synth", "ytvos", "{full}/out", "--sequences", "1", "--frames", "6", "--no-progress"],
        r"No space left on device",
    ),
    Case(
        "synth-videos-full-disk",
        ["synth", "videos", "{full}/out", "--videos", "2", "--seconds", "1", "--no-progress"],
        r"No space left on device",
    ),
    Case(
        "synth-videos-seconds-0",
        ["synth", "videos", "{out}", "--seconds", "0"],
        _range("--seconds", "0"),
    ),
    Case("synth-videos-sizes", ["synth", "videos", "{out}", "--sizes", "32by48"], "bad --sizes"),
    Case("synth-videos-codec", ["synth", "videos", "{out}", "--codecs", "nosuch"], "nosuch"),
    # --- propagate ------------------------------------------------------------------
    Case("propagate-batch-size-0", [*P, "--batch-size", "0"], _range("--batch-size", "0")),
    Case(
        "propagate-short-side-huge",
        [*P, "--short-side", "100000"],
        _range("--short-side", "100000"),
    ),
    Case("propagate-short-side-negative", [*P, "--short-side", "-8"], _range("--short-side", "-8")),
    Case("propagate-layer-0", [*P, "--layer", "0"], _range("--layer", "0")),
    Case("propagate-layer-99", [*P, "--layer", "99"], _range("--layer", "99")),
    Case(
        "propagate-layer-deeper-than-model",
        [*P, "--layer", "13", "--model", "random:vit_tiny"],
        r"12 blocks.*--layer N with 1 <= N <= 12",
    ),
    Case(
        "propagate-preset-layer-deeper-than-export",
        [*P, "--model", "{weights}"],
        r"2 blocks.*--layer N with 1 <= N <= 2",
    ),
    Case("propagate-topk-0", [*P, "--topk", "0"], _range("--topk", "0")),
    Case("propagate-context-negative", [*P, "--context", "-1"], _range("--context", "-1")),
    Case("propagate-radius-negative", [*P, "--radius", "-3"], _range("--radius", "-3")),
    Case("propagate-temperature-0", [*P, "--temperature", "0"], _range("--temperature", "0")),
    Case("propagate-temperature-nan", [*P, "--temperature", "nan"], _range("--temperature", "nan")),
    Case("propagate-patch-size-0", [*P, "--patch-size", "0"], _range("--patch-size", "0")),
    Case("propagate-seed-negative", [*P, "--seed", "-2"], _range("--seed", "-2")),
    Case("propagate-device-bogus", [*P, "--device", "gpu9"], r"--device 'gpu9' is not a device"),
    Case("propagate-no-data", ["propagate", "--out", "{out}", *FAST], "exactly one of"),
    Case("propagate-two-data", [*P, "--ytvos", "{davis}"], "exactly one of"),
    Case(
        "propagate-frames-no-mask",
        ["propagate", "--frames", "{adir}", "--out", "{out}", *FAST],
        "--mask",
    ),
    Case(
        "propagate-ytvos-missing",
        ["propagate", "--ytvos", "{scratch}/nope", "--out", "{out}", *FAST],
        r"nope: YouTube-VOS root folder not found",
    ),
    Case(
        "propagate-ytvos-not-a-ytvos-root",
        ["propagate", "--ytvos", "{adir}", "--out", "{out}", *FAST],
        r"adir/valid/JPEGImages: YouTube-VOS folder not found",
    ),
    Case(
        "propagate-frames-empty-folder",
        ["propagate", "--frames", "{adir}", "--mask", "{mask}", "--out", "{out}", *FAST],
        r"adir: no frames",
    ),
    Case(
        "propagate-davis-missing",
        [*P[:2], "{scratch}/nope", *P[3:]],
        r"nope: DAVIS root folder not found",
    ),
    Case(
        "propagate-frame-empty",
        [*P[:2], "{scratch}/D", *P[3:]],
        r"00002\.jpg",
        setup=_empty_frame,
    ),
    Case(
        "propagate-split-missing",
        [*P, "--split", "nosuch"],
        r"nosuch\.txt: DAVIS split file not found",
    ),
    Case(
        "propagate-sequence-unknown", [*P, "--sequences", "nosuch"], r"no sequence named 'nosuch'"
    ),
    Case(
        "propagate-model-missing",
        [*P, "--model", "{scratch}/no.pth"],
        r"no\.pth: model checkpoint not found",
    ),
    Case("propagate-model-empty", [*P, "--model", "{empty}"], r"empty\.pth"),
    Case("propagate-model-garbage", [*P, "--model", "{garbage}"], r"garbage\.mp4"),
    Case("propagate-model-arch-unknown", [*P, "--model", "random:vit_huge"], "vit_huge"),
    Case("propagate-out-is-file", [*P[:4], "{afile}", *P[5:]], r"afile"),
    Case("propagate-out-under-file", [*P[:4], "{afile}/out", *P[5:]], r"afile/out"),
    Case("propagate-full-disk", [*P[:4], "{full}/out", *P[5:]], r"No space left on device"),
    Case(
        "propagate-read-only-disk",
        [*P[:4], "{readonly}/out", *P[5:]],
        r"ro/out.*Read-only file system",
    ),
    # --- evaluate -------------------------------------------------------------------
    Case("evaluate-processes-0", [*E[:4], "--processes", "0"], _range("--processes", "0")),
    Case(
        "evaluate-results-missing",
        ["evaluate", "{scratch}/r", "--davis", "{davis}"],
        r"r: results folder not found",
    ),
    Case(
        "evaluate-results-is-file",
        ["evaluate", "{afile}", "--davis", "{davis}"],
        r"afile: results folder not found",
    ),
    Case(
        "evaluate-davis-missing",
        [E[0], E[1], "--davis", "{scratch}/d"],
        r"d: DAVIS root folder not found",
    ),
    Case(
        "evaluate-split-missing",
        [*E, "--split", "nosuch"],
        r"nosuch\.txt: DAVIS split file not found",
    ),
    Case(
        "evaluate-prediction-missing",
        ["evaluate", "{scratch}/res", *E[2:]],
        r"1 of 3 predicted frames missing",
        setup=_missing_prediction,
    ),
    Case(
        "evaluate-prediction-empty",
        ["evaluate", "{scratch}/res", *E[2:]],
        r"00001\.png: cannot read annotation PNG",
        setup=_empty_prediction,
    ),
    Case(
        "evaluate-prediction-wrong-size",
        ["evaluate", "{scratch}/res", *E[2:]],
        r"prediction is 12x10 but the ground truth",
        setup=_small_prediction,
    ),
    Case(
        "evaluate-prediction-unknown-id",
        ["evaluate", "{scratch}/res", *E[2:]],
        r"has id 9 but the ground truth has",
        setup=_unknown_id_prediction,
    ),
    Case(
        "evaluate-ground-truth-empty",
        [*E[:2], "--davis", "{scratch}/D", *E[4:]],
        r"00002\.png: cannot read annotation PNG",
        setup=_empty_ground_truth,
    ),
    Case(
        "evaluate-split-empty",
        [*E[:2], "--davis", "{scratch}/D", "--split", "empty", *E[4:]],
        r"empty\.txt: split file lists no sequence",
        setup=_empty_split,
    ),
    Case("evaluate-sequence-unknown", [*E, "--sequences", "nosuch"], r"'nosuch' is not listed"),
    Case(
        "evaluate-full-disk",
        ["evaluate", "{full}/results", *E[2:]],
        r"No space left on device",
        setup=_copy_results,
        free=0,
    ),
    # --- track ----------------------------------------------------------------------
    Case("track-max-frames-0", [*T, "--max-frames", "0"], _range("--max-frames", "0")),
    Case("track-gif-frames-1", [*T, "--gif", "--gif-frames", "1"], _range("--gif-frames", "1")),
    Case("track-gif-width-2", [*T, "--gif", "--gif-width", "2"], _range("--gif-width", "2")),
    Case("track-fps-0", [*T, "--fps", "0"], _range("--fps", "0")),
    Case("track-fps-inf", [*T, "--fps", "inf"], _range("--fps", "inf")),
    Case("track-batch-size-0", [*T, "--batch-size", "0"], _range("--batch-size", "0")),
    Case("track-short-side-huge", [*T, "--short-side", "99999"], _range("--short-side", "99999")),
    Case(
        "track-video-missing",
        ["track", "{scratch}/v.mp4", *T[2:]],
        r"v\.mp4: video file or frame folder not found",
    ),
    Case("track-video-empty", ["track", "{empty}", *T[2:]], r"empty\.pth: cannot decode video"),
    Case(
        "track-video-garbage", ["track", "{garbage}", *T[2:]], r"garbage\.mp4: cannot decode video"
    ),
    Case("track-frames-empty-folder", ["track", "{adir}", *T[2:]], r"adir: no frames"),
    Case(
        "track-mask-missing",
        [*T[:2], "--mask", "{scratch}/m.png", *T[4:]],
        r"m\.png: first-frame mask not found",
    ),
    Case("track-mask-empty", [*T[:2], "--mask", "{emptypng}", *T[4:]], r"empty\.png"),
    Case("track-mask-wrong-size", [*T[:2], "--mask", "{bigmask}", *T[4:]], r"mask is 56x72"),
    Case("track-mask-blank", [*T[:2], "--mask", "{blankmask}", *T[4:]], r"contains no object"),
    Case("track-out-under-file", [*T[:4], "--out", "{afile}/o", *T[6:]], r"afile/o"),
    Case(
        "track-truncated-mp4",
        ["track", "{truncated}", "--mask", "{bikesmask}", "--out", "{out}", *FAST],
        r"bikes-cut\.mp4: only the first \d+ of the 250 frames .*--max-frames \d+",
    ),
    Case(
        "track-read-only-disk", [*T[:4], "--out", "{readonly}/o", *T[6:]], r"Read-only file system"
    ),
    Case(
        "track-preset-layer-deeper-than-export", [*T, "--model", "{weights}"], r"2 blocks.*--layer"
    ),
    Case("track-full-disk", [*T[:4], "--out", "{full}/o", *T[6:]], r"No space left on device"),
    # --- report ---------------------------------------------------------------------
    Case("report-quality-0", [*R, "--quality", "0"], _range("--quality", "0")),
    Case("report-width-0", [*R, "--width", "0"], _range("--width", "0")),
    Case("report-fps-0", [*R, "--fps", "0"], _range("--fps", "0")),
    Case("report-max-frames-0", [*R, "--max-frames", "0"], _range("--max-frames", "0")),
    Case("report-processes-0", [*R, "--processes", "0"], _range("--processes", "0")),
    Case(
        "report-results-missing", ["report", "{scratch}/r", *R[2:]], r"r: results folder not found"
    ),
    Case(
        "report-results-empty",
        ["report", "{adir}", *R[2:]],
        r"adir: results folder holds no predictions",
    ),
    Case("report-names-count", [*R, "--names", "A,B"], r"--names gives 2 name\(s\) for 1"),
    Case("report-animate-unknown", [*R, "--animate", "nosuch"], r"--animate 'nosuch'"),
    Case("report-train-log-missing", [*R, "--train-log", "{scratch}/log.jsonl"], r"log\.jsonl"),
    Case(
        "report-train-log-empty",  # nothing to plot: a warning, the page has no curves
        [*R, "--train-log", "{scratch}/log.jsonl"],
        r"log\.jsonl: no record has an iteration/step/epoch key",
        status=0,
        setup=_empty_log,
    ),
    Case(
        "report-train-log-garbage",
        [*R, "--train-log", "{scratch}/log.jsonl"],
        r"log\.jsonl: skipped 2 line\(s\) that are not JSON objects; no record has",
        status=0,
        setup=_garbage_log,
    ),
    Case("report-out-is-folder", [*R[:-1], "{adir}"], r"adir: is a folder"),
    Case("report-out-under-file", [*R[:-1], "{afile}/r.html"], r"afile"),
    Case("report-full-disk", [*R[:-1], "{full}/r.html"], r"No space left on device"),
    Case(
        "report-read-only-disk",
        [*R[:-1], "{readonly}/r.html"],
        r"ro/r\.html: output folder is not writable",
    ),
    # --- export ---------------------------------------------------------------------
    Case(
        "export-checkpoint-missing", ["export", "{scratch}/no.pth", "{out}.safetensors"], r"no\.pth"
    ),
    Case("export-checkpoint-empty", ["export", "{empty}", "{out}.safetensors"], r"empty\.pth"),
    Case(
        "export-checkpoint-garbage", ["export", "{garbage}", "{out}.safetensors"], r"garbage\.mp4"
    ),
    Case(
        "export-out-under-file",
        ["export", "{checkpoint}", "{afile}/w.safetensors"],
        r"afile/w\.safetensors",
    ),
    Case("export-out-is-folder", ["export", "{checkpoint}", "{adir}"], r"adir"),
    Case(
        "export-full-disk",
        ["export", "{checkpoint}", "{full}/w.safetensors"],
        r"No space left on device",
    ),
    # --- train ----------------------------------------------------------------------
    Case(
        "train-preset-unknown",
        ["train", "--preset", "nosuch"],
        r"argument --preset: invalid choice",
    ),
    Case(
        "train-config-missing",
        ["train", "--config", "{scratch}/c.yaml", "--print-config"],
        r"c\.yaml",
    ),
    Case("train-config-broken", ["train", "--config", "{yaml}", "--print-config"], r"bad\.yaml"),
    Case("train-override-unknown", ["train", "nosuch.key=1", "--print-config"], r"nosuch"),
    Case("train-override-no-equals", ["train", "optim.epochs", "--print-config"], r"optim\.epochs"),
    Case(
        "train-output-under-file",
        ["train", "--preset", "tiny-cpu", "--data", "{video}", "--output", "{afile}/run"],
        r"afile/run as the run folder: .*afile is a file",
    ),
    Case(
        "train-resume-without-checkpoint",
        ["train", "--preset", "tiny-cpu", "--output", "{out}", "--resume"],
        r"out: no checkpoint\.pth to resume from",
    ),
    Case(
        "train-data-global-size-0",
        [*TRAIN, "data.global_size=0"],
        r"data\.global_size must be >= 1, got 0",
        setup=_video_folder,
    ),
    Case(
        "train-model-out-dim-0",
        [*TRAIN, "model.out_dim=0"],
        r"model\.out_dim must be >= 1, got 0",
        setup=_video_folder,
    ),
    Case(
        "train-data-num-workers--1",
        [*TRAIN, "data.num_workers=-1"],
        r"data\.num_workers must be >= 0, got -1",
        setup=_video_folder,
    ),
    Case(
        "train-optim-base-lr-nan",
        [*TRAIN, "optim.base_lr=nan"],
        r"optim\.base_lr must be >= 0, got nan",
        setup=_video_folder,
    ),
    Case(
        "train-full-disk",
        [
            "train",
            "--preset",
            "tiny-cpu",
            "--data",
            "{scratch}/videos",
            "--output",
            "{full}/run",
            *ONE_CLIP,
        ],
        r"No space left on device",
        setup=_video_folder,
    ),
    # --- demo -----------------------------------------------------------------------
    Case(
        "demo-train-minutes-negative",
        ["demo", "--train-minutes", "-1"],
        _range("--train-minutes", "-1"),
    ),
    Case("demo-train-minutes-0", ["demo", "--train-minutes", "0"], _range("--train-minutes", "0")),
    Case("demo-frames-2", ["demo", "--frames", "2"], _range("--frames", "2")),
    Case("demo-sequences-0", ["demo", "--sequences", "0"], _range("--sequences", "0")),
    Case("demo-seed-text", ["demo", "--seed", "x"], _range("--seed", "'x'")),
    Case(
        "demo-full-disk",
        ["demo", "--workdir", "{full}/demo", "--train-minutes", "0.1", "--no-progress"],
        r"No space left on device",
    ),
    # --- the command line itself ----------------------------------------------------
    Case("no-command", [], r"the following arguments are required: COMMAND"),
    Case("unknown-command", ["frobnicate"], r"invalid choice: 'frobnicate'"),
]


def _fixture_names(case: Case) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", " ".join(case.argv)))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, request, tmp_path: Path, capsys, caplog) -> None:
    names = _fixture_names(case)
    shared = request.getfixturevalue("inputs")
    paths: dict[str, Path] = {**shared, "scratch": tmp_path, "out": tmp_path / "out"}
    for name in names & {"davis", "results", "truncated", "checkpoint", "weights"}:
        paths[name] = request.getfixturevalue(name)
    if case.setup is not None:  # setups copy the shared data sets
        paths["results"] = request.getfixturevalue("results")
        paths["davis"] = request.getfixturevalue("davis")
    if "readonly" in names:
        with small_disk(tmp_path / "ro", "size=1m,ro") as disk:
            paths["readonly"] = disk
            _run(case, paths, capsys, caplog)
            assert not list(disk.iterdir())
        before = {}
    elif "full" in names:
        with small_disk(tmp_path / "full") as disk:
            paths["full"] = disk
            if case.setup is not None:
                case.setup(paths)
            fill(disk, case.free)
            _run(case, paths, capsys, caplog)
            (disk / ".filler").unlink()
            assert_complete_files(disk)
        before = {}
    else:
        if case.setup is not None:
            case.setup(paths)
        before = file_states(tmp_path)
        _run(case, paths, capsys, caplog)
    assert_complete_files(tmp_path, before)
    if (
        case.status != 0
        and case.setup is not _nonempty_out
        and case.id not in KEEPS_COMPLETE_OUTPUTS
    ):
        assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


# Failures after some outputs were finished keep those (whole) files.
KEEPS_COMPLETE_OUTPUTS = {"track-truncated-mp4"}


def _run(case: Case, paths: dict[str, Path], capsys, caplog):
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in case.argv]
    outcome = run_cli(argv, capsys, caplog)
    assert outcome.status == case.status, outcome.lines
    assert len(outcome.lines) == 1, outcome.lines
    assert re.search(case.message, outcome.lines[0]), outcome.lines[0]
    return outcome


def test_corpus_is_large_and_covers_every_command() -> None:
    commands = {c.argv[0] for c in CASES if c.argv}
    assert commands >= {
        "synth",
        "propagate",
        "evaluate",
        "track",
        "train",
        "export",
        "report",
        "demo",
    }
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
