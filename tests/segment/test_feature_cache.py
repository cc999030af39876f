"""The on-disk feature cache: exact reuse, keys, corruption, LRU bound, the runner hook."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from inovos.errors import InovosError
from inovos.propagation.features import extract_features
from inovos.propagation.presets import get_preset
from inovos.segment.feature_cache import (
    CachedFeatures,
    FeatureCache,
    FeatureKey,
    batch_features,
    model_identity,
    parse_size,
)
from inovos.segment.runner import SegmentOptions, segment_sequence
from inovos.synth import write_synth_davis
from inovos.vos.davis import DavisDataset


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(n)]


def _input(frames: list[np.ndarray]) -> torch.Tensor:
    x = torch.as_tensor(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0
    return (x - 0.45) / 0.225


@pytest.fixture()
def model(counting_model):
    return counting_model


def test_cached_features_are_the_fresh_ones_bit_for_bit(model, tmp_path: Path) -> None:
    frames = _frames(3)
    batch = _input(frames)
    fresh = extract_features(model, batch, 2)
    cached = CachedFeatures(FeatureCache(tmp_path, 1 << 30), "random:vit_tiny/patch16/seed1")
    model.frames = 0
    first = batch_features(model, frames, batch, 2, cached=cached)
    assert model.frames == 3 and cached.cache.misses == 1 and len(cached.cache.entries()) == 3
    second = batch_features(model, frames, batch, 2, cached=cached)
    assert model.frames == 3, "a full hit must not run the backbone"
    assert cached.cache.hits == 3
    for got in (first, second):
        assert got.dtype == torch.float32
        assert torch.equal(got, fresh)
        assert got.numpy().tobytes() == fresh.numpy().tobytes()


def test_one_missing_frame_recomputes_the_whole_batch(model, tmp_path: Path) -> None:
    frames = _frames(4)
    cached = CachedFeatures(FeatureCache(tmp_path, 1 << 30), "m")
    batch_features(model, frames[:2], _input(frames[:2]), 1, cached=cached)
    model.frames = 0
    out = batch_features(model, frames, _input(frames), 1, cached=cached)
    assert model.frames == 4
    assert torch.equal(out, extract_features(model, _input(frames), 1))
    assert len(cached.cache.entries()) == 4


def test_key_changes_with_everything_that_changes_features() -> None:
    frame = _frames(1)[0]
    base = FeatureKey("m", 6, (32, 48), "float32", "cpu")
    other_frame = frame.copy()
    other_frame[0, 0, 0] ^= 1
    variants = [
        FeatureKey("m2", 6, (32, 48), "float32", "cpu").for_frame(frame),
        FeatureKey("m", 1, (32, 48), "float32", "cpu").for_frame(frame),
        FeatureKey("m", 6, (48, 32), "float32", "cpu").for_frame(frame),
        FeatureKey("m", 6, (32, 48), "bfloat16", "cpu").for_frame(frame),
        FeatureKey("m", 6, (32, 48), "float32", "cuda").for_frame(frame),
        base.for_frame(other_frame),
        base.for_frame(frame.reshape(48, 32, 3)),
    ]
    key = base.for_frame(frame)
    assert key == FeatureKey("m", 6, (32, 48), "float32", "cpu").for_frame(frame.copy())
    assert len({key, *variants}) == 1 + len(variants)


def _corrupt_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10  # inside the tensor bytes
    path.write_bytes(bytes(data))


def _corrupt_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"\x00" * 64)


@pytest.mark.parametrize("corrupt", [_corrupt_flip, _corrupt_truncate, _corrupt_garbage])
def test_corrupt_entry_is_detected_deleted_and_recomputed(model, tmp_path: Path, corrupt) -> None:
    frames = _frames(2)
    batch = _input(frames)
    fresh = extract_features(model, batch, 2)
    cached = CachedFeatures(FeatureCache(tmp_path, 1 << 30), "m")
    batch_features(model, frames, batch, 2, cached=cached)
    entry = sorted(cached.cache.entries())[0]
    corrupt(entry)
    model.frames = 0
    out = batch_features(model, frames, batch, 2, cached=cached)
    assert cached.cache.corrupt == 1
    assert model.frames == 2, "the corrupt entry must be recomputed, not trusted"
    assert torch.equal(out, fresh)
    assert entry.is_file()  # written again, now good
    model.frames = 0
    assert torch.equal(batch_features(model, frames, batch, 2, cached=cached), fresh)
    assert model.frames == 0


def test_entry_under_the_wrong_name_is_not_trusted(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, 1 << 30)
    cache.put("a" * 64, torch.ones(2, 3, 4))
    os.replace(cache.path("a" * 64), cache.path("b" * 64))
    assert cache.get("b" * 64) is None
    assert cache.corrupt == 1 and not cache.path("b" * 64).exists()


def test_eviction_keeps_the_cache_under_its_bound_lru_first(tmp_path: Path) -> None:
    probe = FeatureCache(tmp_path / "probe", 1 << 30)
    probe.put("p", torch.zeros(4, 8, 8))
    entry = probe.total_bytes()
    cache = FeatureCache(tmp_path / "c", int(2.5 * entry))
    for i, name in enumerate("abc"):
        cache.put(name, torch.full((4, 8, 8), float(i)))
        os.utime(cache.path(name), ns=(i * 10**9, i * 10**9))  # distinct, ordered times
    assert sorted(p.stem for p in cache.entries()) == ["b", "c"]  # a evicted
    assert cache.total_bytes() <= cache.max_bytes
    got = cache.get("b")  # b becomes the most recently used
    assert got is not None and torch.equal(got, torch.full((4, 8, 8), 1.0))
    cache.put("d", torch.full((4, 8, 8), 3.0))
    assert sorted(p.stem for p in cache.entries()) == ["b", "d"]  # c was least recent
    assert cache.total_bytes() <= cache.max_bytes
    for i in range(10):
        cache.put(f"e{i}", torch.full((4, 8, 8), float(i)))
        assert cache.total_bytes() <= cache.max_bytes


def test_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, 1)
    dead, alive = tmp_path / ".x.safetensors.tmp999999999", tmp_path / f".y.tmp{os.getpid()}-7"
    dead.write_bytes(b"half")
    alive.write_bytes(b"half")
    cache.put("a", torch.ones(2))  # over the bound: evicts, then removes dead temporaries
    assert not dead.exists() and alive.exists()
    assert cache.entries() == []


@pytest.mark.parametrize(
    ("text", "value"),
    [("20G", 20 << 30), ("500M", 500 << 20), ("1.5k", 1536), ("7", 7), ("2GiB", 2 << 30)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "G", "-1G", "0", "1.5X", "ten", "1e3"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(InovosError, match="size"):
        parse_size(text)


def test_model_identity(tmp_path: Path) -> None:
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"one")
    first = model_identity(str(weights))
    assert first == model_identity(str(weights))
    assert first != model_identity(str(weights), which="teacher")
    weights.write_bytes(b"two")
    assert model_identity(str(weights)) != first
    assert model_identity("random:vit_small", seed=0) != model_identity("random:vit_small", seed=1)
    assert model_identity("pixels") != model_identity("pixels", patch_size=16)
    with pytest.raises(InovosError, match="not found"):
        model_identity(str(tmp_path / "missing.pth"))


def test_runner_with_cache_writes_the_same_pngs(model, tmp_path: Path) -> None:
    root = write_synth_davis(
        tmp_path / "d", num_sequences=1, num_frames=5, size=(48, 80), seed=2, progress=False
    )
    seq = DavisDataset(root)[0]
    params = get_preset("ino-davis").__class__(
        **{**vars(get_preset("ino-davis")), "short_side": 48}
    )
    cached = CachedFeatures(FeatureCache(tmp_path / "cache", 1 << 30), "m")
    segment_sequence(model, seq, tmp_path / "plain", SegmentOptions(params, batch_size=2))
    model.frames = 0
    for run in ("cold", "warm"):
        options = SegmentOptions(params, batch_size=2, feature_cache=cached)
        segment_sequence(model, seq, tmp_path / run, options)
    assert model.frames == seq.num_frames  # computed once, by the cold run
    for name in seq.frame_names:
        plain = (tmp_path / "plain" / f"{name}.png").read_bytes()
        assert (tmp_path / "cold" / f"{name}.png").read_bytes() == plain
        assert (tmp_path / "warm" / f"{name}.png").read_bytes() == plain
