"""Shared inputs of the command-line tests: tiny DAVIS data, results, videos, bad files.

Everything is built once per session and only read by the tests; a test that writes
gets its own scratch folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from cli_helpers import BIKES_SIZE, FAST, VIDEO_SIZE, bikes_mp4, truncated_copy

from inovos.cli import main
from inovos.formats.palette import write_label_png


def _write_video(path: Path, frames: int) -> None:
    rng = np.random.default_rng(0)
    h, w = VIDEO_SIZE
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for t in range(frames):
            rgb = np.full((h, w, 3), 40, np.uint8)
            rgb[10:30, 5 + 3 * t : 25 + 3 * t] = rng.integers(150, 255, 3, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small files every test only reads: bad files, a video and its masks."""
    root = tmp_path_factory.mktemp("cli-inputs")
    paths = {
        "afile": root / "afile",
        "empty": root / "empty.pth",
        "garbage": root / "garbage.mp4",
        "emptypng": root / "empty.png",
        "video": root / "clip.mp4",
        "mask": root / "mask.png",
        "bigmask": root / "big-mask.png",
        "blankmask": root / "blank-mask.png",
        "bikesmask": root / "bikes-mask.png",
        "adir": root / "adir",
        "yaml": root / "bad.yaml",
    }
    paths["afile"].write_text("a regular file\n")
    paths["empty"].write_bytes(b"")
    paths["emptypng"].write_bytes(b"")
    paths["garbage"].write_text("this is not a video\n" * 20)
    paths["adir"].mkdir()
    paths["yaml"].write_text("model: [unclosed\n")
    _write_video(paths["video"], 8)
    mask = np.zeros(VIDEO_SIZE, np.uint8)
    mask[10:30, 5:25] = 1
    write_label_png(paths["mask"], mask)
    write_label_png(paths["bigmask"], np.pad(mask, 4))
    write_label_png(paths["blankmask"], np.zeros(VIDEO_SIZE, np.uint8))
    bikes = np.zeros(BIKES_SIZE, np.uint8)
    bikes[60:160, 100:220] = 1
    write_label_png(paths["bikesmask"], bikes)
    return paths


@pytest.fixture(scope="session")
def truncated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bikes.mp4 cut to its first 8% of bytes: about 20 of its 250 frames decode."""
    return truncated_copy(bikes_mp4(), tmp_path_factory.mktemp("cut") / "bikes-cut.mp4", 0.08)


@pytest.fixture(scope="session")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAVIS-layout set: 2 sequences of 5 frames, 48x64, up to 2 objects."""
    from inovos.synth import write_synth_davis

    root = tmp_path_factory.mktemp("cli-davis") / "DAVIS"
    return write_synth_davis(
        root, num_sequences=2, num_frames=5, size=(48, 64), max_objects=2, progress=False
    )


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory, davis: Path) -> Path:
    """Pixel-feature predictions of `davis`, evaluated (with the two CSVs)."""
    out = tmp_path_factory.mktemp("cli-results") / "results"
    assert main(["propagate", "--davis", str(davis), "--out", str(out), *FAST]) == 0
    assert main(["evaluate", str(out), "--davis", str(davis), "--processes", "1"]) == 0
    return out


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real training checkpoint of a tiny ViT after one step (the slowest input)."""
    from inovos.synth.videos import write_synth_videos

    root = tmp_path_factory.mktemp("cli-train")
    videos = write_synth_videos(root / "videos", num_videos=1, seconds=1.0, sizes=((64, 96),))
    overrides = [
        "model.embed_dim=32",
        "model.depth=2",
        "model.num_heads=2",
        "model.img_size=32",
        "model.out_dim=64",
        "model.head_hidden_dim=64",
        "model.head_bottleneck_dim=32",
        "data.global_size=32",
        "data.local_size=16",
        "data.n_local=2",
        "data.num_workers=0",
        "optim.clips_per_gpu=2",
        "run.device=cpu",
        "run.max_iters=1",
    ]
    run = root / "run"
    argv = ["train", "--preset", "tiny-cpu", "--data", str(videos), "--output", str(run)]
    assert main([*argv, *overrides]) == 0
    return run / "checkpoint.pth"


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    """The exported student of `checkpoint`: a ViT of depth 2 (shallower than every preset's
    layer, the normal case after a short training run)."""
    out = tmp_path_factory.mktemp("cli-weights") / "student.safetensors"
    assert main(["export", str(checkpoint), str(out)]) == 0
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    """A private copy of a shared input folder (for tests that change it)."""
    shutil.copytree(src, dst)
    return dst
