"""Resampling to 8 fps by torchvision VideoClips' rule, on real containers of common rates.

The rule, with n decoded frames and the container's average rate f: when f / 8 is a
whole number s, every s-th frame (ceil(n / s) frames); otherwise floor(n * 8 / f)
frames, frame i being decoded frame floor(i * f / 8) computed in float32.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from inovos.clips.dataset import ClipDataset
from inovos.clips.sampling import num_clips, num_resampled_frames, resample_indices
from inovos.clips.video_index import build_video_index
from inovos.synth.videos import read_counter, write_counter_video

NTSC = 30000 / 1001  # 29.97
RATES = [24.0, 25.0, NTSC, 30.0, 60.0]


def torchvision_rule(n: int, f: float, r: float = 8.0) -> list[int]:
    """The indices as torchvision's VideoClips computes them (torch, float32 arange)."""
    step = float(f) / r
    if step.is_integer():
        return list(range(n))[:: int(step)]
    total = math.floor(n * r / f)
    return (torch.arange(total, dtype=torch.float32) * step).floor().to(torch.int64).tolist()


@pytest.mark.parametrize(
    ("rate", "n", "count", "first"),
    [
        (24.0, 50, 17, [0, 3, 6, 9, 12]),  # whole step 3: ceil(50 / 3)
        (24.0, 48, 16, [0, 3, 6, 9, 12]),
        (25.0, 52, 16, [0, 3, 6, 9, 12, 15, 18, 21, 25]),  # floor(16.64); i * 3.125
        (NTSC, 100, 26, [0, 3, 7, 11, 14, 18, 22, 26, 29]),  # floor(26.69); i * 3.74625...
        (30.0, 36, 9, [0, 3, 7, 11, 15, 18, 22, 26, 30]),  # floor(9.6); i * 3.75
        (60.0, 100, 13, [0, 7, 15, 22, 30, 37, 45, 52, 60]),  # floor(13.33); i * 7.5
    ],
)
def test_hand_counts_and_indices(rate: float, n: int, count: int, first: list[int]) -> None:
    assert num_resampled_frames(n, rate, 8.0) == count
    got = resample_indices(n, rate, 8.0)
    assert len(got) == count and got[: len(first)].tolist() == first
    assert got.tolist() == torchvision_rule(n, rate)


@pytest.mark.parametrize("rate", [*RATES, 24000 / 1001, 60000 / 1001, 29.97, 12.5, 15.0, 16.0])
def test_long_videos_match_torchvision_float32_indices(rate: float) -> None:
    # Thousands of frames: float32 rounding of i * step decides some indices.
    for n in (1, 7, 99, 1000, 54321):
        want = torchvision_rule(n, rate)
        assert resample_indices(n, rate, 8.0).tolist() == want
        assert num_resampled_frames(n, rate, 8.0) == len(want)
        assert num_clips(n, rate, 8.0, 4) == max(0, len(want) - 3)
        start = max(0, len(want) // 2)
        count = min(4, len(want) - start)
        assert resample_indices(n, rate, 8.0, start, count).tolist() == want[start : start + count]


def test_float32_matters_for_ntsc() -> None:
    # In float64, some of these indices would be one frame later.
    step = NTSC / 8.0
    k = np.arange(200000)
    exact = np.floor(k * step).astype(np.int64)
    assert (resample_indices(10**6, NTSC, 8.0, 0, len(k)) != exact).any()


@pytest.fixture(scope="module")
def rate_videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """One counter video per rate (frame i shows i), with lengths where the rules differ."""
    root = tmp_path_factory.mktemp("rates")
    lengths = [50, 52, 100, 37, 130]
    names = []
    for i, (rate, n) in enumerate(zip(RATES, lengths, strict=True)):
        name = f"v{i}.mp4"
        write_counter_video(root / name, n, rate, gop=8)
        names.append(name)
    (root / "list.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return root, lengths


def test_containers_of_common_rates_resample_by_the_rule(rate_videos) -> None:
    root, lengths = rate_videos
    index = build_video_index(root / "list.txt", cache_dir=None, progress=False)
    assert [len(p) for p in index.pts] == lengths
    for got, rate in zip(index.rates, RATES, strict=True):
        assert got == float(Fraction(rate).limit_denominator(1001))  # the average rate
    want_counts = [
        max(0, len(torchvision_rule(n, f)) - 3) for n, f in zip(lengths, RATES, strict=True)
    ]
    assert index.num_clips().tolist() == want_counts
    assert want_counts == [14, 13, 23, 6, 14]  # ceil(50/3), floor(16.64), floor(26.69), ...
    dataset = ClipDataset(index)
    for video, (n, rate) in enumerate(zip(lengths, RATES, strict=True)):
        want = torchvision_rule(n, rate)
        for start in (0, want_counts[video] - 1):
            frames = dataset.read_frames(video, start)
            assert [read_counter(f) for f in frames] == want[start : start + 4]
