"""Fixtures for the training tests: two tiny synthetic videos and a tiny config factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from inovos.config import TrainConfig, resolve_config

# A ViT of width 32 and depth 2, K = 64, 32-pixel globals and two 16-pixel locals per
# frame, 2 clips per step: about 20 ms per step on one CPU core.
TINY_OVERRIDES = [
    "model.embed_dim=32",
    "model.depth=2",
    "model.num_heads=2",
    "model.img_size=32",
    "model.out_dim=64",
    "model.head_hidden_dim=64",
    "model.head_bottleneck_dim=32",
    "model.drop_path_rate=0.1",
    "data.global_size=32",
    "data.local_size=16",
    "data.n_local=2",
    "data.num_workers=0",
    "optim.clips_per_gpu=2",
    "optim.epochs=2",
    "optim.warmup_epochs=1",
    "optim.base_lr=0.05",
    "optim.freeze_last_layer=1",
    "loss.mask_prob=0.75",
    "run.log_every=1",
    "run.device=cpu",
]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: these tiny models run 3x faster on a shared 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synth_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """List file of 2 videos, 64x96, 2 s at 24 fps: 13 clips each, 10 clips per epoch."""
    from inovos.synth.videos import write_synth_videos

    out = tmp_path_factory.mktemp("synth_videos")
    return write_synth_videos(out, num_videos=2, seconds=2.0, sizes=((64, 96),), fps=(24.0,))


@pytest.fixture
def tiny_overrides() -> list[str]:
    """The tiny run's overrides (for command-line tests)."""
    return list(TINY_OVERRIDES)


@pytest.fixture
def tiny_config(synth_list: Path) -> Callable[..., TrainConfig]:
    """``tiny_config(output_dir, *overrides, source=...)``: the tiny run's TrainConfig."""

    def make(output_dir: Path, *overrides: str, source: Path | None = None) -> TrainConfig:
        items = [
            *TINY_OVERRIDES,
            f"data.source={source or synth_list}",
            f"run.output_dir={output_dir}",
            f"data.index_cache={output_dir.parent / 'index-cache'}",
            *overrides,
        ]
        return resolve_config("tiny-cpu", items)

    return make
