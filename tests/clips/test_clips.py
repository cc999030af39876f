"""Resampling, epoch clip sampling, rank sharding, decoding and the clip dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from inovos.clips.dataset import ClipDataset, collate_clips
from inovos.clips.decode import DecodeError, decode_video_frames, read_clip
from inovos.clips.sampling import (
    ClipSampler,
    num_clips,
    num_resampled_frames,
    resample_indices,
    sample_epoch_clips,
)
from inovos.clips.video_index import build_video_index
from inovos.clips.views import CpuViews, ViewConfig
from inovos.synth.videos import counter_frame, read_counter, write_counter_video

# --- resampling -------------------------------------------------------------------------


def test_resampling_hand_values() -> None:
    # 25 fps, 52 frames: floor(52 * 8 / 25) = 16 frames, frame i = floor(i * 3.125).
    assert num_resampled_frames(52, 25.0, 8.0) == 16
    got = resample_indices(52, 25.0, 8.0)
    assert got.tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 25, 28, 31, 34, 37, 40, 43, 46]
    assert resample_indices(52, 25.0, 8.0, start=5, count=4).tolist() == [15, 18, 21, 25]
    # 24 fps: a whole step of 3, every 3rd frame, ceil(50 / 3) = 17 frames.
    assert num_resampled_frames(50, 24.0, 8.0) == 17
    assert resample_indices(50, 24.0, 8.0)[-3:].tolist() == [42, 45, 48]
    # 4 fps is upsampled: floor(6 * 8 / 4) = 12 frames, each shown twice.
    assert resample_indices(6, 4.0, 8.0).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_clip_counts_and_short_videos() -> None:
    assert num_clips(52, 25.0, 8.0, 4) == 13
    assert num_clips(12, 25.0, 8.0, 4) == 0  # floor(3.84) = 3 resampled frames < T
    assert num_clips(13, 25.0, 8.0, 4) == 1  # floor(4.16) = 4
    assert num_clips(12, 25.0, 8.0, 3) == 1
    assert num_clips(10, 24.0, 8.0, 4) == 1  # ceil(10 / 3) = 4
    assert num_clips(0, 25.0, 8.0, 4) == 0


# --- epoch sampling ---------------------------------------------------------------------

COUNTS = np.array([0, 1, 3, 5, 6, 40, 200, 2])


def test_epoch_draws_min_5_distinct_clips_per_video() -> None:
    clips = sample_epoch_clips(COUNTS, 5, seed=3, epoch=0)
    assert clips.shape == (int(np.minimum(COUNTS, 5).sum()), 3)
    for v, n in enumerate(COUNTS):
        starts = clips[clips[:, 0] == v, 1]
        assert len(starts) == min(5, n)
        assert len(set(starts.tolist())) == len(starts)
        assert ((starts >= 0) & (starts < max(n, 1))).all()
        if n <= 5:
            assert sorted(starts.tolist()) == list(range(n))


def test_epoch_reproducible_and_different_across_epochs_and_seeds() -> None:
    a = sample_epoch_clips(COUNTS, 5, seed=1, epoch=4)
    np.testing.assert_array_equal(a, sample_epoch_clips(COUNTS, 5, seed=1, epoch=4))
    b = sample_epoch_clips(COUNTS, 5, seed=1, epoch=5)
    c = sample_epoch_clips(COUNTS, 5, seed=2, epoch=4)
    assert not np.array_equal(a[:, :2], b[:, :2]) and not np.array_equal(a[:, :2], c[:, :2])
    assert len(set(a[:, 2].tolist())) == len(a)  # item seeds distinct
    runs = 1 + np.count_nonzero(np.diff(a[:, 0]))  # shuffled: videos interleave
    assert runs > 15


def test_epoch_starts_are_uniform_over_a_video() -> None:
    hits = np.zeros(10)
    for epoch in range(400):
        clips = sample_epoch_clips(np.array([10]), 5, seed=0, epoch=epoch)
        np.add.at(hits, clips[:, 1], 1)
    # each start is drawn with probability 1/2 per epoch: 200 +- ~10 (std)
    assert np.abs(hits - 200).max() < 45


@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("world", [1, 3, 4])
def test_sampler_ranks_equal_and_disjoint(world: int, drop_last: bool) -> None:
    samplers = [
        ClipSampler(COUNTS, seed=7, rank=r, world_size=world, drop_last=drop_last)
        for r in range(world)
    ]
    total = int(np.minimum(COUNTS, 5).sum())  # 23
    for s in samplers:
        s.set_epoch(2)
    per_rank = [list(s) for s in samplers]
    assert len({len(p) for p in per_rank}) == 1
    assert len(per_rank[0]) == len(samplers[0])
    assert len(samplers[0]) == (total // world if drop_last else -(-total // world))
    everything = [tuple(x) for p in per_rank for x in p]
    if drop_last:
        assert len(set(everything)) == len(everything)  # disjoint
    else:
        assert len(set(everything)) == total  # every clip served, a few twice
    full = {tuple(x) for x in sample_epoch_clips(COUNTS, 5, 7, 2).tolist()}
    assert set(everything) <= full


def test_sampler_set_epoch_changes_order() -> None:
    sampler = ClipSampler(COUNTS, seed=0, rank=0, world_size=1)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


# --- decoding ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counter_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("counter")
    write_counter_video(root / "h264.mp4", 50, 25.0, gop=10)  # B-frames, keyframe every 10
    write_counter_video(root / "mpeg4.avi", 36, 30.0, codec="mpeg4", gop=7)
    (root / "list.txt").write_text("h264.mp4\nmpeg4.avi\n", encoding="utf-8")
    return root


def test_decode_returns_the_indexed_frames(counter_videos: Path) -> None:
    index = build_video_index(counter_videos / "list.txt", cache_dir=None, progress=False)
    dataset = ClipDataset(index)
    for video in range(2):
        n, rate = len(index.pts[video]), float(index.rates[video])
        for start in range(int(index.num_clips()[video])):
            frames = dataset.read_frames(video, start)
            expected = resample_indices(n, rate, 8.0, start, 4)
            assert frames.shape == (4, 64, 96, 3) and frames.dtype == np.uint8
            assert [read_counter(f) for f in frames] == expected.tolist()


def test_decode_out_of_order_request_and_repeats(counter_videos: Path) -> None:
    pts = np.arange(50) / 25.0
    frames = decode_video_frames(str(counter_videos / "h264.mp4"), pts[[44, 44, 45, 49]])
    assert [read_counter(f) for f in frames] == [44, 44, 45, 49]


def test_decode_errors_are_decode_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(DecodeError):
        decode_video_frames(str(tmp_path / "bad.mp4"), np.array([0.0]))
    with pytest.raises(DecodeError):
        read_clip(str(tmp_path), "frames", np.arange(3.0), np.array([0, 1]))


def test_frame_folder_clip(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(counter_frame(i, (16, 24))).save(folder / f"frame{i}.png")
    index = build_video_index(tmp_path, frames_fps=12.0, cache_dir=None, progress=False)
    frames = ClipDataset(index).read_frames(0, 2)
    # 12 fps -> 8 fps: k -> floor(k * 1.5); clip 2 = k 2..5 -> frames 3, 4, 6, 7
    assert [read_counter(f) for f in frames] == [3, 4, 6, 7]


def test_broken_video_at_training_time_is_replaced(
    counter_videos: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("h264.mp4", "mpeg4.avi"):
        (tmp_path / name).write_bytes((counter_videos / name).read_bytes())
    (tmp_path / "list.txt").write_text("h264.mp4\nmpeg4.avi\n", encoding="utf-8")
    index = build_video_index(tmp_path / "list.txt", cache_dir=None, progress=False)
    (tmp_path / "h264.mp4").write_bytes(b"garbage" * 100)  # breaks after indexing
    with caplog.at_level(logging.WARNING, logger="inovos.clips.dataset"):
        sample = ClipDataset(index)[(0, 3, 12345)]
        again = ClipDataset(index)[(0, 3, 12345)]
    assert sample["video"] == 1 and sample["decode_failures"] == 1
    assert sample["failed_videos"] == [str(tmp_path / "h264.mp4")]
    assert (sample["video"], sample["start"]) == (again["video"], again["start"])
    assert sum("h264.mp4" in r.getMessage() for r in caplog.records) == 2  # one per dataset
    frames = sample["frames"].numpy()
    expected = resample_indices(len(index.pts[1]), float(index.rates[1]), 8.0, sample["start"], 4)
    assert [read_counter(f) for f in frames] == expected.tolist()
    batch = collate_clips([sample, ClipDataset(index)[(1, 0, 1)]])
    assert batch["decode_failures"] == 1 and len(batch["failed_videos"]) == 1


def test_dataloader_batches_views_and_raw_frames(counter_videos: Path) -> None:
    index = build_video_index(counter_videos / "list.txt", cache_dir=None, progress=False)
    sampler = ClipSampler(index.num_clips(), seed=0, rank=0, world_size=1)
    cfg = ViewConfig(global_size=32, local_size=16, n_local=3)
    dataset = ClipDataset(index, views=CpuViews(cfg))
    loader = DataLoader(dataset, batch_size=4, sampler=sampler, collate_fn=collate_clips)
    batch = next(iter(loader))
    assert batch["globals"].shape == (4, 4, 3, 32, 32)
    assert batch["locals"].shape == (4, 3, 4, 3, 16, 16)
    assert batch["globals"].dtype == torch.float32 and batch["decode_failures"] == 0
    again = next(iter(loader))  # same epoch, same augmentations
    torch.testing.assert_close(again["locals"], batch["locals"])

    raw = collate_clips([ClipDataset(index)[(v, 0, 0)] for v in (0, 1, 0)])
    assert raw["frames"].shape == (3, 4, 64, 96, 3) and raw["frames"].dtype == torch.uint8
    assert raw["sizes"].tolist() == [[64, 96]] * 3
    assert ClipDataset(index)[14]["video"] == 1  # global clip number 14 = video 1, start 1
