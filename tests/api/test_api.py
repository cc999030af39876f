"""The Python API: the README example runs, step() matches the commands pixel for pixel,
objects introduced by later masks, lazy import, errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inovos
from inovos.cli import main
from inovos.errors import InovosError
from inovos.formats.palette import read_label_png, write_label_png
from inovos.synth import write_synth_davis, write_synth_ytvos
from inovos.vos.davis import DavisDataset
from inovos.vos.ytvos import YouTubeVOSDataset

README = Path(__file__).resolve().parents[2] / "README.md"
FAST = ["--model", "random:vit_tiny", "--patch-size", "16", "--short-side", "64", "--no-progress"]


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("davis")
    return write_synth_davis(
        root / "d", num_sequences=2, num_frames=6, size=(72, 128), seed=3, progress=False
    )


def readme_example() -> str:
    """The python block that follows the api-example marker in README.md."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- api-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its API example"
    return match.group(1)


def test_readme_example_runs(davis: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    seq = DavisDataset(davis)[0]
    frames = tmp_path / "my_video"
    frames.mkdir()
    for path in seq.frame_paths[:3]:
        (frames / path.name).write_bytes(path.read_bytes())
    first = seq.annotation(0)
    assert first is not None
    write_label_png(tmp_path / "first.png", first)
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    print(out)  # shown with -s: the example's output
    lines = out.strip().splitlines()
    h, w = seq.frame_size
    assert [line.split(" ", 1)[0] for line in lines[:3]] == ["0", "1", "2"]
    assert all(f"({h}, {w})" in line for line in lines[:3])
    assert lines[3] == f"objects: {seq.object_ids} frames: 3"


def test_step_matches_propagate_pixel_for_pixel(davis: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["propagate", "--davis", str(davis), "--out", str(out), *FAST]) == 0
    model = inovos.load_model("random:vit_tiny", patch_size=16)
    for seq in DavisDataset(davis):
        seg = inovos.VideoSegmenter(model, "ino-davis", short_side=64)
        for t in range(seq.num_frames):
            ids = seg.step(seq.frame(t), seq.annotation(t))
            expected = read_label_png(out / seq.name / f"{seq.frame_names[t]}.png")
            np.testing.assert_array_equal(ids, expected, err_msg=f"{seq.name} frame {t}")
        assert seg.frames_seen == seq.num_frames and seg.object_ids == seq.object_ids


def test_segment_video_matches_track(davis: Path, tmp_path: Path) -> None:
    seq = DavisDataset(davis)[1]
    frames, mask = seq.frame_paths[0].parent, seq.annotation_paths[0]
    out = tmp_path / "tracked"
    args = ["track", str(frames), "--mask", str(mask), "--out", str(out), "--no-video", *FAST]
    assert main(args) == 0
    model = inovos.load_model("random:vit_tiny", patch_size=16)
    got = list(inovos.segment_video(model, frames, mask, short_side=64, batch_size=3))
    assert len(got) == seq.num_frames
    for name, ids in zip(seq.frame_names, got, strict=True):
        np.testing.assert_array_equal(ids, read_label_png(out / f"{name}.png"))


def test_objects_from_later_masks_need_no_ids_up_front(tmp_path: Path) -> None:
    """YouTube-VOS objects entering late: ids learned from the masks as they come give
    the same maps as the ids known up front (what `propagate --ytvos` does)."""
    root = write_synth_ytvos(
        tmp_path / "yt", num_sequences=3, num_frames=11, size=(64, 96), seed=5, progress=False
    )
    dataset = YouTubeVOSDataset(root)
    late = [s for s in dataset if any(s.first_frame_of[k] > 0 for k in s.object_ids)]
    assert late, "the synthetic set must hold an object that enters late"
    model = inovos.load_model("random:vit_tiny", patch_size=16)
    for seq in late:
        known = inovos.VideoSegmenter(model, object_ids=seq.object_ids, short_side=64)
        learned = inovos.VideoSegmenter(model, short_side=64)
        for t in range(seq.num_frames):
            mask = seq.annotation(t)
            a, b = known.step(seq.frame(t), mask), learned.step(seq.frame(t), mask)
            np.testing.assert_array_equal(a, b, err_msg=f"{seq.name} frame {t}")
        assert sorted(learned.object_ids) == list(seq.object_ids)
        assert set(np.unique(b).tolist()) <= {0, *seq.object_ids}


def test_step_errors(davis: Path) -> None:
    seq = DavisDataset(davis)[0]
    seg = inovos.VideoSegmenter(inovos.load_model("pixels"), short_side=64)
    with pytest.raises(InovosError, match="needs a mask"):
        seg.step(seq.frame(0))
    with pytest.raises(InovosError, match="mask is"):
        seg.step(seq.frame(0), np.zeros((5, 5), np.uint8))
    seg.step(seq.frame(0), seq.annotation(0))
    with pytest.raises(InovosError, match="first frame was"):
        seg.step(seq.frame(1)[:-8])
    with pytest.raises(InovosError, match="uint8 RGB"):
        seg.step(seq.frame(1).astype(np.float32))
    with pytest.raises(InovosError, match="unknown propagation preset"):
        inovos.VideoSegmenter(inovos.load_model("pixels"), "nope")


def test_import_inovos_is_cheap() -> None:
    code = "import sys, inovos; print('torch' in sys.modules, inovos.__version__)"
    env = {**os.environ, "PYTHONPATH": str(Path(inovos.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.split()[0] == "False", done.stderr
    assert callable(inovos.segment_video) and "VideoSegmenter" in dir(inovos)
