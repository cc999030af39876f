"""Training-step throughput: a plain fp32 eager step against the project's optimised step.

Shapes of the charades-vits8 preset: B clips x T=4 frames, per frame 1 global crop of
G=224 and L local crops of 64, ViT-S/8, K=4096 (head 2048/256). On CUDA the default is
the paper's B=4, L=8, G=224; on CPU it is B=1, L=2, G=112 (a ViT-S/8 step at 224 takes
minutes on a small CPU); the table states what ran.

- plain: written out here, obviously correct: fp32, three separate forward calls,
  a Python loop for per-parameter clipping, AdamW(foreach=False), a Python EMA loop.
- optimised: :class:`inovos.train.step.TrainStep` as training uses it: precision
  ``auto`` (bf16 autocast on CUDA with bf16, fp32 on CPU), fused AdamW (CUDA and
  CPU), one student call, foreach clipping and EMA.
- data: one DataLoader worker's clips/s (decode + CPU views at the same crop
  sizes) on look-alike videos (``--video-size``), so one can tell which side limits.

Timing: both variants live in one process and their steps alternate (``--warmup``
untimed rounds, then ``--repeats`` timed ones; the table shows the median), so that
a shared machine's load hits both alike. Memory: each variant alone in a fresh
interpreter for two steps (max allocated on CUDA, peak RSS on CPU). Both step cases start from the same weights, batch and
mask (drop path 0), so the first step's loss difference measures the precision change.

    python benchmarks/train_step.py [--device cuda] [--clips 4] [--locals 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

from inovos.config import TrainConfig, resolve_config
from inovos.devices import resolve_device
from inovos.losses import INOLoss
from inovos.train.model import StudentTeacher
from inovos.train.setup import build_loss, build_model, build_optimizer, build_run_schedules
from inovos.train.state import TrainState
from inovos.train.step import TrainStep, ViewBatch, resolve_precision
from peak_memory import peak_rss_mib

VARIANTS = ("plain", "optimised")


def _config(opts: dict[str, Any]) -> TrainConfig:
    return resolve_config(
        "charades-vits8",
        [
            f"optim.clips_per_gpu={opts['clips']}",
            f"data.n_local={opts['locals']}",
            f"data.global_size={opts['global_size']}",
            "model.drop_path_rate=0",
            "optim.precision=auto",
        ],
    )


def _inputs(cfg: TrainConfig, device: torch.device) -> tuple[ViewBatch, torch.Tensor]:
    """A fixed batch (T, B layout) and a mask with 30% of the patches masked."""
    gen = torch.Generator().manual_seed(0)
    t, b, n_loc = cfg.data.clip_len, cfg.optim.clips_per_gpu, cfg.data.n_local
    g, s = cfg.data.global_size, cfg.data.local_size
    globals_ = torch.randn(t, b, 3, g, g, generator=gen)
    locals_ = torch.randn(t, n_loc, b, 3, s, s, generator=gen)
    n = (g // cfg.model.patch_size) ** 2
    mask = torch.zeros(t, b, n, dtype=torch.bool)
    mask[..., torch.randperm(n, generator=gen)[: int(0.3 * n)]] = True
    return ViewBatch.from_views(globals_, locals_).to(device), mask.to(device)


def plain_step(
    model: StudentTeacher,
    loss_fn: INOLoss,
    optimizer: torch.optim.Optimizer,
    batch: ViewBatch,
    mask: torch.Tensor,
    clip: float = 3.0,
    momentum: float = 0.996,
) -> float:
    """The reference step, fp32 eager, every stage spelled out."""
    t, b, n_loc = batch.frames, batch.clips, batch.n_local
    with torch.no_grad():
        teacher = model.teacher(batch.globals_)
    student = model.student(batch.globals_, mask.flatten(0, 1))
    local = model.student.head(model.student.backbone(batch.locals_)[:, 0])
    k = teacher.cls.shape[-1]
    n = teacher.patch.shape[1]
    loss, _ = loss_fn(
        teacher_cls=teacher.cls.view(t, b, k),
        student_cls=student.cls.view(t, b, k),
        student_local_cls=local.view(t, n_loc, b, k),
        teacher_patch=teacher.patch.view(t, b, n, k),
        student_patch=student.patch.view(t, b, n, k),
        mask=mask,
        teacher_temp=0.04,
    )
    optimizer.zero_grad()
    loss.backward()
    for p in model.student.parameters():
        if p.grad is not None:
            norm = p.grad.norm()
            if norm > clip:
                p.grad.mul_(clip / (norm + 1e-6))
    optimizer.step()
    with torch.no_grad():
        for pt, ps in zip(model.teacher.parameters(), model.student.parameters(), strict=True):
            pt.mul_(momentum).add_(ps, alpha=1 - momentum)
    return float(loss.detach())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _runner(variant: str, opts: dict[str, Any]) -> Callable[[], float]:
    """A fresh model (seed 0), batch and mask; returns a function doing one step."""
    device = torch.device(opts["device"])
    cfg = _config(opts)
    torch.manual_seed(0)
    model = build_model(cfg.model, device)
    loss_fn = build_loss(cfg.loss, cfg.model.out_dim, device)
    batch, mask = _inputs(cfg, device)
    if variant == "plain":
        optimizer = torch.optim.AdamW(model.student.parameters(), lr=1e-5, foreach=False)
        return lambda: plain_step(model, loss_fn, optimizer, batch, mask)
    precision = resolve_precision("auto", device)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    state = TrainState(model, build_optimizer(model.student, cfg.optim, device), loss_fn, scaler)
    step = TrainStep(
        state,
        model.student,
        build_run_schedules(cfg, 1, 100),
        precision,
        device,
        cfg.optim.clip_grad,
        freeze_last_layer=0,
    )
    return lambda: step(batch, mask, 50, 1).values["loss"]


def _timed(run: Callable[[], float], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - start


def _memory_case(variant: str, opts: dict[str, Any]) -> dict[str, Any]:
    """One variant alone in this process: first-step loss and peak memory of two steps."""
    torch.set_num_threads(opts["threads"])
    device = torch.device(opts["device"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    run = _runner(variant, opts)
    loss = run()
    run()
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = peak_rss_mib()
    return {"loss": loss, "peak_mib": peak}


def _timing_case(opts: dict[str, Any]) -> dict[str, Any]:
    """Both variants in one process, steps alternated so that they share the machine's load."""
    torch.set_num_threads(opts["threads"])
    device = torch.device(opts["device"])
    runs = {v: _runner(v, opts) for v in VARIANTS}
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i in range(opts["warmup"] + opts["repeats"]):
        for variant, run in runs.items():
            elapsed = _timed(run, device)
            if i >= opts["warmup"]:
                times[variant].append(elapsed)
    return times


def _data_case(opts: dict[str, Any]) -> dict[str, Any]:
    """One DataLoader worker: decode + CPU views of charades-shaped clips."""
    from inovos.clips.dataset import ClipDataset
    from inovos.clips.sampling import ClipSampler
    from inovos.clips.video_index import build_video_index
    from inovos.clips.views import CpuViews, ViewConfig
    from inovos.synth.videos import write_synth_videos

    torch.set_num_threads(1)
    h, w = (int(v) for v in opts["video_size"].split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        listing = write_synth_videos(tmp, num_videos=2, seconds=3.0, sizes=((h, w),), fps=(24.0,))
        index = build_video_index(listing, cache_dir=None, progress=False, num_workers=1)
        views = CpuViews(ViewConfig(opts["global_size"], 64, opts["locals"]))
        dataset = ClipDataset(index, views=views)
        refs = list(ClipSampler(index.num_clips(), seed=0, rank=0, world_size=1))[:6]
        dataset[refs[0]]
        rates = []
        for _ in range(opts["repeats"]):
            start = time.perf_counter()
            for ref in refs:
                dataset[ref]
            rates.append(len(refs) / (time.perf_counter() - start))
    return {"rate": statistics.median(rates), "peak_mib": peak_rss_mib()}


def _in_child(case: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Run one case in a fresh interpreter (``--case``) and read its JSON result."""
    command = [sys.executable, __file__, "--case", case, "--opts", json.dumps(opts)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse options, run each case in its own process, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--clips", type=int, help="clips per step (default: 4 CUDA, 1 CPU)")
    parser.add_argument("--locals", type=int, help="local crops per frame (default: 8 CUDA, 2 CPU)")
    parser.add_argument("--global-size", type=int, help="global crop (default: 224 CUDA, 112 CPU)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--video-size", default="480x640", help="HxW of the look-alike videos")
    parser.add_argument("--skip-data", action="store_true", help="do not measure the data side")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--opts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # a child process: one case, its result as JSON on the last line
        opts = json.loads(args.opts)
        if args.case == "data":
            result = _data_case(opts)
        elif args.case == "timing":
            result = _timing_case(opts)
        else:
            result = _memory_case(args.case, opts)
        print(json.dumps(result))
        return
    cuda = resolve_device(args.device).type == "cuda"
    opts = {
        "device": "cuda" if cuda else "cpu",
        "clips": args.clips or (4 if cuda else 1),
        "locals": args.locals or (8 if cuda else 2),
        "global_size": args.global_size or (224 if cuda else 112),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "threads": args.threads,
        "video_size": args.video_size,
    }
    results = {v: _in_child(v, opts) for v in VARIANTS}
    for variant, times in _in_child("timing", opts).items():
        results[variant]["times"] = times
    data = None if args.skip_data else _in_child("data", opts)
    _print_table(opts, results, data)


def _print_table(
    opts: dict[str, Any], results: dict[str, Any], data: dict[str, Any] | None
) -> None:
    name = (
        torch.cuda.get_device_name()
        if opts["device"] == "cuda"
        else f"CPU, {opts['threads']} threads"
    )
    precision = resolve_precision("auto", torch.device(opts["device"]))
    print(
        f"device: {name}; ViT-S/8, K=4096; {opts['clips']} clip(s) x 4 frames, 1 global "
        f"{opts['global_size']} + {opts['locals']} local 64 per frame; median of "
        f"{opts['repeats']} steps after {opts['warmup']} warm-up"
    )
    header = f"{'case':<34} {'s/step':>8} {'clips/s':>8} {'vs plain':>9} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    base = statistics.median(results["plain"]["times"])
    labels = {"plain": "plain step (fp32 eager)", "optimised": f"optimised step ({precision})"}
    for variant, result in results.items():
        median = statistics.median(result["times"])
        print(
            f"{labels[variant]:<34} {median:8.3f} {opts['clips'] / median:8.2f} "
            f"{base / median:8.2f}x {result['peak_mib']:9.0f}"
        )
    if data is not None:
        label = f"data: 1 worker ({opts['video_size']} video)"
        print(f"{label:<34} {'':>8} {data['rate']:8.2f} {'':>9} {data['peak_mib']:9.0f}")
    diff = abs(results["plain"]["loss"] - results["optimised"]["loss"])
    rel = diff / max(abs(results["plain"]["loss"]), 1e-12)
    print(
        f"first-step loss: plain {results['plain']['loss']:.6f}, optimised "
        f"{results['optimised']['loss']:.6f}, |diff| {diff:.2e} ({rel:.1e} relative)"
    )


if __name__ == "__main__":
    main()
