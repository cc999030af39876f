"""`inovos propagate` end to end on tiny look-alike data: outputs, resume, zip, errors."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from inovos.cli import main
from inovos.formats.palette import read_label_png
from inovos.propagation.presets import get_preset
from inovos.segment.models import load_feature_model
from inovos.segment.runner import SegmentOptions, segment_sequence
from inovos.synth import write_synth_davis, write_synth_ytvos
from inovos.vos.davis import DavisDataset

FAST = ["--model", "pixels", "--short-side", "64", "--no-progress"]


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("davis")
    return write_synth_davis(
        root / "d", num_sequences=2, num_frames=6, size=(72, 128), seed=3, progress=False
    )


def _pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_davis_outputs_resume_and_redo(davis: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["propagate", "--davis", str(davis), "--out", str(out), *FAST]) == 0
    dataset = DavisDataset(davis)
    for seq in dataset:
        assert _pngs(out / seq.name) == [f"{n}.png" for n in seq.frame_names]
        first = read_label_png(out / seq.name / f"{seq.frame_names[0]}.png")
        gt = seq.annotation(0)
        assert gt is not None
        np.testing.assert_array_equal(first, np.where(gt == 255, 0, gt))
        for name in seq.frame_names:
            ids = set(np.unique(read_label_png(out / seq.name / f"{name}.png")).tolist())
            assert ids <= {0, *seq.object_ids}
    # Resume: complete sequences are not touched; an incomplete one is redone.
    first_seq, second_seq = dataset.names
    kept = out / first_seq / "00003.png"
    stamp = kept.stat().st_mtime_ns
    (out / second_seq / "00004.png").unlink()
    pid = [sys.executable, "-c", "import os; print(os.getpid())"]
    dead = subprocess.run(pid, text=True, capture_output=True, check=True).stdout.strip()
    leftovers = [out / first_seq / f".00001.png.tmp{dead}", out / second_seq / f".x.png.tmp{dead}"]
    for path in leftovers:  # what a killed run leaves
        path.write_bytes(b"half a PNG")
    capsys.readouterr()
    assert main(["propagate", "--davis", str(davis), "--out", str(out), *FAST]) == 0
    assert "1 sequences propagated" in capsys.readouterr().out
    assert kept.stat().st_mtime_ns == stamp
    assert (out / second_seq / "00004.png").is_file()
    assert not any(path.exists() for path in leftovers)


def test_evaluate_flag_prints_table(davis: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["propagate", "--davis", str(davis), "--out", str(out), "--evaluate", *FAST]
    assert main(args) == 0
    assert "J&F-Mean" in capsys.readouterr().out
    assert (out / "global_results-val.csv").is_file()


def test_batch_size_does_not_change_results(davis: Path, tmp_path: Path) -> None:
    model = load_feature_model("random:vit_tiny", patch_size=16)
    params = get_preset("ino-davis").__class__(
        **{**vars(get_preset("ino-davis")), "short_side": 64}
    )
    seq = DavisDataset(davis)[0]
    for batch in (1, 4):
        segment_sequence(
            model, seq, tmp_path / str(batch), SegmentOptions(params, batch_size=batch)
        )
    for name in seq.frame_names:
        a = read_label_png(tmp_path / "1" / f"{name}.png")
        b = read_label_png(tmp_path / "4" / f"{name}.png")
        np.testing.assert_array_equal(a, b)


def test_ytvos_writes_listed_frames_and_zip(tmp_path: Path) -> None:
    root = write_synth_ytvos(
        tmp_path / "yt", num_sequences=2, num_frames=11, size=(64, 96), seed=5, progress=False
    )
    out = tmp_path / "out"
    assert main(["propagate", "--ytvos", str(root), "--out", str(out), *FAST]) == 0
    listed = {
        (v.name, p.stem) for v in (root / "valid" / "JPEGImages").iterdir() for p in v.glob("*.jpg")
    }
    written = {(p.parent.name, p.stem) for p in out.glob("*/*.png")}
    assert written == listed
    with zipfile.ZipFile(out / "Annotations.zip") as z:
        names = {n for n in z.namelist() if n.endswith(".png")}
    assert names == {f"Annotations/{v}/{f}.png" for v, f in listed}


def test_frame_folder_input(davis: Path, tmp_path: Path) -> None:
    seq = DavisDataset(davis)[0]
    frames = seq.frame_paths[0].parent
    mask = seq.annotation_paths[0]
    out = tmp_path / "out"
    assert (
        main(["propagate", "--frames", str(frames), "--mask", str(mask), "--out", str(out), *FAST])
        == 0
    )
    assert len(_pngs(out / frames.name)) == seq.num_frames


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "exactly one of"),
        (["--frames", "X"], "--mask"),
        (["--davis", "/no/such/davis"], "not found"),
        (["--davis", "{davis}", "--model", "/no/such.pth"], "not found"),
        (["--davis", "{davis}", "--model", "random:vit_huge"], "vit_huge"),
        (["--davis", "{davis}", "--topk", "0"], "topk"),
    ],
)
def test_bad_input_is_one_line_error(
    davis: Path, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    args = ["propagate", "--out", str(tmp_path / "o"), *FAST]
    args += [a.replace("{davis}", str(davis)) for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unwritable_output(davis: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["propagate", "--davis", str(davis), "--out", str(blocker / "sub"), *FAST]) == 2
    assert "not writable" in capsys.readouterr().err
