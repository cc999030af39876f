"""Throughput of the training-data pipeline: index build, decode, views on CPU vs batched.

Writes look-alike videos (default 480x854, like Charades_v1_480), then measures in
separate processes (so that peak RSS is per case) the clips per second of:

- index: building the video index (per video, not per clip),
- decode: decoding clips (T=4 frames at 8 fps) with PyAV, one thread,
- cpu-views: the DataLoader-worker path, views of one decoded clip at a time,
- worker: decode + cpu-views, i.e. what one DataLoader worker delivers,
- batched: BatchedViews on a padded batch on ``--device`` (float32, matrix resampling).

Each case runs ``--repeats`` times; the table shows the median, the ratio to the
cpu-views path and the peak memory (RSS on CPU; max allocated on CUDA).

    python benchmarks/data_pipeline.py [--device cuda] [--size 480x854] [--tiny]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inovos.clips.dataset import ClipDataset, collate_clips
from inovos.clips.sampling import ClipSampler
from inovos.clips.video_index import build_video_index
from inovos.clips.views import BatchedViews, CpuViews, ViewConfig
from inovos.synth.videos import write_synth_videos
from peak_memory import peak_rss_mib


def _clip_refs(index: Any, n: int) -> list[tuple[int, int, int]]:
    sampler = ClipSampler(index.num_clips(), seed=0, rank=0, world_size=1)
    refs = list(sampler)
    return (refs * (n // max(1, len(refs)) + 1))[:n]


def _case(name: str, list_file: str, cfg: ViewConfig, opts: dict[str, Any]) -> dict[str, Any]:
    """Run one case in this (fresh) process; returns clips/s per repeat and peak memory."""
    torch.set_num_threads(opts["threads"])
    index = build_video_index(list_file, cache_dir=opts["cache"], progress=False)
    n, batch, device = opts["clips"], opts["batch"], torch.device(opts["device"])
    refs = _clip_refs(index, n)
    raw = ClipDataset(index)
    rates = []
    for _ in range(opts["repeats"]):
        if name == "index":
            start = time.perf_counter()
            build_video_index(list_file, cache_dir=None, progress=False, num_workers=1)
            rates.append(len(index) / (time.perf_counter() - start))
            continue
        if name in ("decode", "worker"):
            dataset = ClipDataset(index, views=CpuViews(cfg) if name == "worker" else None)
            start = time.perf_counter()
            for ref in refs:
                dataset[ref]
            rates.append(n / (time.perf_counter() - start))
            continue
        samples = [raw[ref] for ref in refs[:batch]]
        clips = [s["frames"] for s in samples]
        if name == "cpu-views":
            views = CpuViews(cfg)
            start = time.perf_counter()
            for i, clip in enumerate(clips):
                views(clip, torch.Generator().manual_seed(i))
            rates.append(len(clips) / (time.perf_counter() - start))
            continue
        padded = collate_clips(samples)
        frames, sizes = padded["frames"].to(device), padded["sizes"]
        views_b = BatchedViews(cfg)
        views_b(frames, sizes, torch.Generator().manual_seed(0))  # warm-up
        _sync(device)
        start = time.perf_counter()
        views_b(frames, sizes, torch.Generator().manual_seed(1))
        _sync(device)
        rates.append(len(clips) / (time.perf_counter() - start))
    peak = peak_rss_mib()
    if device.type == "cuda" and name == "batched":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    return {"rates": rates, "peak_mib": peak}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="480x854", help="HxW of the test videos")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--clips", type=int, default=32, help="clips per decode/worker repeat")
    parser.add_argument("--batch", type=int, default=16, help="clips per views repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--device", default="cpu", help="device of the batched path")
    parser.add_argument("--tiny", action="store_true", help="tiny-cpu views: 96/32, 4 locals")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    cfg = ViewConfig(global_size=96, local_size=32, n_local=4) if args.tiny else ViewConfig()
    with tempfile.TemporaryDirectory() as tmp:
        list_file = write_synth_videos(
            tmp, num_videos=args.videos, seconds=4.0, sizes=((height, width),), fps=(30.0, 25.0)
        )
        opts = {
            "cache": str(Path(tmp) / "cache"),
            "clips": args.clips,
            "batch": args.batch,
            "repeats": args.repeats,
            "threads": args.threads,
            "device": args.device,
        }
        build_video_index(list_file, cache_dir=opts["cache"], progress=False)
        context = multiprocessing.get_context("spawn")
        results = {}
        for name in ("index", "decode", "cpu-views", "worker", "batched"):
            with context.Pool(1) as pool:
                results[name] = pool.apply(_case, (name, str(list_file), cfg, opts))
    _print_table(results, args, cfg)


def _print_table(
    results: dict[str, dict[str, Any]], args: argparse.Namespace, cfg: ViewConfig
) -> None:
    print(
        f"frames {args.size}, views {cfg.global_size}/{cfg.local_size} x{cfg.n_local} locals, "
        f"T=4, torch threads {args.threads}, batched on {args.device}; "
        f"median of {args.repeats} repeats (shared CPU: numbers are noisy)"
    )
    base = statistics.median(results["cpu-views"]["rates"])
    print(
        f"{'case':<10} {'unit':<8} {'median/s':>10} {'min/s':>9} {'max/s':>9} {'x cpu-views':>12} {'peak MiB':>9}"
    )
    for name, res in results.items():
        rates = np.array(res["rates"])
        unit = "videos" if name == "index" else "clips"
        ratio = "" if name == "index" else f"{np.median(rates) / base:.2f}"
        print(
            f"{name:<10} {unit:<8} {np.median(rates):>10.1f} {rates.min():>9.1f} "
            f"{rates.max():>9.1f} {ratio:>12} {res['peak_mib']:>9.0f}"
        )


if __name__ == "__main__":
    main()
