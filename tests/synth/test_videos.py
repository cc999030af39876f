"""Look-alike training videos: decodable, requested sizes and lengths, deterministic."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from inovos.cli import main
from inovos.clips.video_index import build_video_index
from inovos.errors import InovosError
from inovos.synth.videos import (
    available_encoders,
    counter_frame,
    read_counter,
    write_synth_videos,
)

SIZES = ((64, 96), (48, 64))


def _decode_all(path: Path) -> tuple[np.ndarray, float, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, float(stream.average_rate), stream.codec_context.name


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_synth_videos(out, num_videos=3, seconds=2.0, seed=5, sizes=SIZES, fps=(25.0, 30.0))
    return out


def test_videos_decode_with_requested_size_length_and_codec(synth: Path) -> None:
    lines = (synth / "videos.txt").read_text(encoding="utf-8").split()
    assert len(lines) == 3
    expected = [((64, 96), 25.0, "h264"), ((48, 64), 30.0, "mpeg4"), ((64, 96), 25.0, "h264")]
    for line, (size, fps, codec) in zip(lines, expected, strict=True):
        frames, rate, name = _decode_all(synth / line)
        assert frames.shape == (round(2.0 * fps), *size, 3)
        assert rate == fps and name == codec
        motion = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
        assert (motion > 0.5).mean() > 0.9  # things move in (nearly) every frame
        assert frames.std() > 20  # textured, not flat


def test_list_file_indexes_like_charades(synth: Path) -> None:
    index = build_video_index(synth / "videos.txt", cache_dir=None, progress=False)
    assert len(index) == 3 and index.num_skipped == 0
    np.testing.assert_allclose(index.durations, [2.0, 2.0, 2.0], atol=1e-6)
    assert (index.num_clips() == 13).all()  # 16 resampled frames at 8 fps -> 13 clips


def test_same_seed_same_videos_other_seed_differs(synth: Path, tmp_path: Path) -> None:
    write_synth_videos(
        tmp_path / "a", num_videos=2, seconds=2.0, seed=5, sizes=SIZES, fps=(25.0, 30.0)
    )
    write_synth_videos(
        tmp_path / "b", num_videos=1, seconds=2.0, seed=6, sizes=SIZES, fps=(25.0, 30.0)
    )
    names = (tmp_path / "a" / "videos.txt").read_text(encoding="utf-8").split()
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (synth / name).read_bytes()
    assert (tmp_path / "b" / names[0]).read_bytes() != (synth / names[0]).read_bytes()


def test_bad_options_raise_inovos_error(tmp_path: Path) -> None:
    with pytest.raises(InovosError, match="even"):
        write_synth_videos(tmp_path, sizes=((63, 96),))
    with pytest.raises(InovosError, match="encoders"):
        write_synth_videos(tmp_path, codecs=("no-such-codec",))
    with pytest.raises(InovosError, match="--videos"):
        write_synth_videos(tmp_path, num_videos=0)
    assert {"h264", "mpeg4"} <= set(available_encoders())


def test_cli_arguments_and_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    argv = ["synth", "videos", str(out), "--videos", "1", "--seconds", "1", "--sizes", "32x48"]
    argv += ["--fps", "10", "--no-progress"]
    assert main(argv) == 0
    frames, rate, _ = _decode_all(out / "videos" / "synth_000_h264_48x32.mp4")
    assert frames.shape == (10, 32, 48, 3) and rate == 10.0
    assert "wrote 1 training videos" in capsys.readouterr().out
    assert main(argv) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main([*argv, "--sizes", "32x64", "--overwrite"]) == 0
    assert [p.name for p in (out / "videos").iterdir()] == ["synth_000_h264_64x32.mp4"]
    assert main(["synth", "videos", str(tmp_path / "bad"), "--sizes", "32by48"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_counter_pattern_round_trip() -> None:
    for value in (0, 1, 77, 128, 255):
        assert read_counter(counter_frame(value, (8, 40))) == value
