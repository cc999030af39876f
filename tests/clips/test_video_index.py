"""Video sources, the video index, its cache key, its lock and skipping of bad videos."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from inovos.clips import video_index as vi
from inovos.clips.video_index import build_video_index, load_index
from inovos.clips.video_sources import KIND_FRAMES, KIND_VIDEO, list_video_sources
from inovos.errors import InovosError
from inovos.synth.videos import write_counter_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two counter videos (25 fps 50 frames, 30 fps 36 frames) and a list file."""
    root = tmp_path_factory.mktemp("videos")
    (root / "clips").mkdir()
    write_counter_video(root / "clips" / "a.mp4", 50, 25.0)
    write_counter_video(root / "clips" / "b.mp4", 36, 30.0, codec="mpeg4")
    (root / "list.txt").write_text("clips/a.mp4,label\nclips/b.mp4\n", encoding="utf-8")
    return root


def _copy_tree(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(path.read_bytes())
    return dst


class _CountingProbe:
    def __init__(self) -> None:
        self.calls = 0
        self.original = vi.probe_sources

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        return self.original(*args, **kwargs)  # type: ignore[arg-type]


def test_list_file_parsing(tmp_path: Path) -> None:
    (tmp_path / "frames" / "v1").mkdir(parents=True)
    text = "# comment\n\n  a.mp4 , 12, x\nsub/b.avi\n/abs/c.mkv\nframes/v1\n"
    (tmp_path / "list.txt").write_text(text, encoding="utf-8")
    sources = list_video_sources(tmp_path / "list.txt")
    assert [s.path for s in sources] == [
        str(tmp_path / "a.mp4"),
        str(tmp_path / "sub" / "b.avi"),
        "/abs/c.mkv",
        str(tmp_path / "frames" / "v1"),
    ]
    assert [s.kind for s in sources] == [KIND_VIDEO] * 3 + [KIND_FRAMES]
    rooted = list_video_sources(tmp_path / "list.txt", root="/data")
    assert rooted[0].path == "/data/a.mp4" and rooted[2].path == "/abs/c.mkv"


def test_charades_csv_ids_get_their_extension(tmp_path: Path) -> None:
    (tmp_path / "Charades_v1_480").mkdir()
    (tmp_path / "Charades_v1_480" / "46GP8.mp4").write_bytes(b"")
    csv = "id,subject,scene\n46GP8,HR43,Kitchen\nZZZZZ,HR43,Hall\n"
    (tmp_path / "train.csv").write_text(csv, encoding="utf-8")
    sources = list_video_sources(tmp_path / "train.csv", root=tmp_path / "Charades_v1_480")
    names = [Path(s.path).name for s in sources]
    assert names == ["id", "46GP8.mp4", "ZZZZZ"]  # the header and a missing id are skipped later


def test_folder_scan_finds_videos_and_frame_folders(tmp_path: Path) -> None:
    for name in ("x/b.MP4", "x/a.webm", "c.mov", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "f" / "v2").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "f" / "v2" / "00001.jpg")
    (tmp_path / "f" / "empty").mkdir()
    sources = list_video_sources(tmp_path)
    rel = [(os.path.relpath(s.path, tmp_path), s.kind) for s in sources]
    assert rel == [
        ("c.mov", KIND_VIDEO),
        ("f/v2", KIND_FRAMES),
        ("x/a.webm", KIND_VIDEO),
        ("x/b.MP4", KIND_VIDEO),
    ]


def test_missing_source_and_empty_folder_raise(tmp_path: Path) -> None:
    with pytest.raises(InovosError, match="not found"):
        list_video_sources(tmp_path / "nope.txt")
    with pytest.raises(InovosError, match="no videos"):
        list_video_sources(tmp_path)


def test_index_has_packet_timestamps(videos: Path) -> None:
    index = build_video_index(videos / "list.txt", cache_dir=None, progress=False)
    assert len(index) == 2 and index.num_skipped == 0
    np.testing.assert_allclose(index.pts[0], np.arange(50) / 25.0, atol=1e-9)
    np.testing.assert_allclose(index.pts[1], np.arange(36) / 30.0, atol=1e-9)
    np.testing.assert_allclose(index.durations, [2.0, 1.2], atol=1e-6)
    assert index.rates.tolist() == [25.0, 30.0]  # the containers' average rates
    # 25 fps, 50 frames: floor(50 * 8 / 25) = 16 resampled frames -> 13 clips.
    # 30 fps, 36 frames: floor(36 * 8 / 30) = 9 -> 6 clips.
    assert index.num_clips().tolist() == [13, 6]


def _write_faststart(path: Path, frames: int) -> None:
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("h264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(frames):
            image = np.full((64, 96, 3), (i * 37) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_bad_videos_are_skipped_with_one_warning_each(
    videos: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "corrupt.mp4").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (tmp_path / "empty.mp4").write_bytes(b"")
    good = videos / "clips" / "a.mp4"
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:300])  # moov (the index) at the end: lost
    faststart = tmp_path / "faststart.mp4"  # moov first: the header outlives the data
    _write_faststart(faststart, 60)
    (tmp_path / "cut.mp4").write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 2])
    lines = [str(good), "corrupt.mp4", "empty.mp4", "missing.mp4", "truncated.mp4", "cut.mp4"]
    (tmp_path / "list.txt").write_text("\n".join(lines), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="inovos.clips.video_index"):
        index = build_video_index(tmp_path / "list.txt", cache_dir=tmp_path, progress=False)
    assert index.paths == [str(good)]
    assert index.num_skipped == 5
    skipped = [Path(p).name for p, _ in index.skipped]
    assert skipped == ["corrupt.mp4", "empty.mp4", "missing.mp4", "truncated.mp4", "cut.mp4"]
    assert "truncated" in index.skipped[-1][1]
    assert len(build_video_index(faststart, cache_dir=None, progress=False).pts[0]) == 60
    for name in skipped:
        assert sum(name in r.getMessage() for r in caplog.records) == 1
    reloaded = build_video_index(tmp_path / "list.txt", cache_dir=tmp_path, progress=False)
    assert reloaded.from_cache and reloaded.skipped == index.skipped


def test_cache_hit_and_every_rebuild_trigger(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _copy_tree(videos, tmp_path / "data")
    cache = tmp_path / "cache"
    probe = _CountingProbe()
    monkeypatch.setattr(vi, "probe_sources", probe)

    def build(**kwargs: object) -> vi.VideoIndex:
        return build_video_index(data / "list.txt", cache_dir=cache, progress=False, **kwargs)  # type: ignore[arg-type]

    first = build()
    assert probe.calls == 1 and not first.from_cache
    again = build()
    assert probe.calls == 1 and again.from_cache
    np.testing.assert_array_equal(np.concatenate(again.pts), np.concatenate(first.pts))
    assert again.paths == first.paths and again.key == first.key

    build(fps=10.0)
    assert probe.calls == 2
    build(clip_len=3)
    assert probe.calls == 3
    build()
    assert probe.calls == 3  # the original settings are still cached

    video = data / "clips" / "b.mp4"
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    build()
    assert probe.calls == 4
    build()
    assert probe.calls == 4
    write_counter_video(video, 40, 30.0, codec="mpeg4")  # new size (and mtime)
    assert build().pts[1].shape == (40,)
    assert probe.calls == 5

    (data / "list.txt").write_text("clips/a.mp4\n", encoding="utf-8")
    assert len(build()) == 1
    assert probe.calls == 6


def test_cache_is_plain_npz(videos: Path, tmp_path: Path) -> None:
    build_video_index(videos / "list.txt", cache_dir=tmp_path, progress=False)
    (cache_file,) = tmp_path.glob("video-index-*.npz")
    with np.load(cache_file, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    assert load_index(cache_file).paths[0].endswith("a.mp4")


def test_frame_folders_use_the_assumed_rate(tmp_path: Path) -> None:
    for v, n in (("v1", 10), ("v2", 3)):
        (tmp_path / "frames" / v).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 6)).save(tmp_path / "frames" / v / f"{i}.png")
    index = build_video_index(tmp_path / "frames", frames_fps=10.0, cache_dir=None, progress=False)
    assert index.kinds == [KIND_FRAMES, KIND_FRAMES]
    np.testing.assert_allclose(index.pts[0], np.arange(10) / 10.0)
    np.testing.assert_allclose(index.durations, [1.0, 0.3])
    assert index.rates.tolist() == [10.0, 10.0]
    # 10 frames at 10 fps -> resampled to 8 fps: floor(10 * 8 / 10) = 8 -> 5 clips.
    assert index.num_clips().tolist() == [5, 0]


_RACE = textwrap.dedent(
    """
    import sys, time
    from inovos.clips import video_index as vi
    original = vi.probe_sources
    def slow(*args, **kwargs):
        time.sleep(1.5)
        return original(*args, **kwargs)
    vi.probe_sources = slow
    index = vi.build_video_index(sys.argv[1], cache_dir=sys.argv[2], progress=False)
    print("BUILT" if not index.from_cache else "LOADED", len(index))
    """
)


def test_concurrent_processes_build_once(videos: Path, tmp_path: Path) -> None:
    args = [sys.executable, "-c", _RACE, str(videos / "list.txt"), str(tmp_path)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert outputs == ["BUILT 2", "LOADED 2"]
    assert len(list(tmp_path.glob("video-index-*.npz"))) == 1
