"""Benchmark ONE label-propagation step at DAVIS size: optimised vs dense.

Default problem: a 480x854 DAVIS frame -> 60x106 feature grid (ino-davis, ViT-S/8,
D = 384), 11 context frames (first + 10 previous), R = 40, top-5, 4 objects + background,
random L2-normalised features.

Variants, each in a FRESH subprocess (so peak memory is per variant):
  reference  the plain dense implementation of the tests (one (N, C*N) matmul, additive
             -inf window mask, top-k, softmax, gather), imported from
             tests/propagation/test_affinity.py (single copy).
  windowed   ``propagate_windowed`` on features cached in the planned orientation, as
             ``Propagator`` does each frame.
  labels     ``propagate_labels``: the channels-first API (includes its layout copies).

Time: median wall-clock (and process CPU time) over --repeats steps after one warm-up.
Peak memory: CPU: peak RSS (VmHWM) of the subprocess during the steps, the counter reset
after the inputs are built (the whole process's peak where /proc/self/clear_refs is not
writable); it includes the torch runtime and the inputs, reported as "base". CUDA:
torch.cuda.max_memory_allocated (inputs included, also reported as "base").

Usage:
    python benchmarks/propagation_step.py [--device cuda] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_rss_mib, reset_peak_rss, rss_mib

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("reference", "windowed", "labels")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--grid", type=int, nargs=2, default=(60, 106), metavar=("H", "W"))
    parser.add_argument("--frames", type=int, default=11, help="context frames C")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--objects", type=int, default=4)
    parser.add_argument("--radius", type=int, default=40)
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args: argparse.Namespace) -> None:
    """Run one variant and write its timings, memory and output to ``args.out``."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(ROOT / "tests" / "propagation"))
    from test_affinity import reference_propagate

    from inovos.propagation.affinity import propagate_labels, propagate_windowed
    from inovos.propagation.tiling import plan_layout

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    (h, w), c, d, num_labels = args.grid, args.frames, args.dim, 1 + args.objects
    gen = torch.Generator().manual_seed(0)
    query = F.normalize(torch.randn(d, h, w, generator=gen), dim=0).to(device)
    keys = F.normalize(torch.randn(c, d, h, w, generator=gen), dim=1).to(device)
    labels = torch.softmax(4 * torch.randn(c, num_labels, h, w, generator=gen), dim=1).to(device)
    knobs = {"radius": args.radius, "topk": args.topk, "temperature": 0.1}
    plan = plan_layout((h, w), args.radius, c, d, device_type=device.type)

    if args.worker == "reference":

        def step() -> torch.Tensor:
            return reference_propagate(query, keys, labels, **knobs)

    elif args.worker == "labels":

        def step() -> torch.Tensor:
            return propagate_labels(query, keys, labels, **knobs)

    else:  # the Propagator's per-frame work: features already cached in the plan's layout
        order = (2, 1, 0) if plan.transpose else (1, 2, 0)
        q = query.permute(*order).contiguous()
        k = list(keys.permute(0, *(i + 1 for i in order)).contiguous())
        lab = labels.permute(0, *(i + 1 for i in order)).reshape(-1, num_labels).contiguous()
        del query, keys, labels  # the Propagator caches only the working layout

        def step() -> torch.Tensor:
            (out,) = propagate_windowed(q, k, lab, tile=plan.tile, **knobs)
            return out.permute(2, 1, 0) if plan.transpose else out.permute(2, 0, 1)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    base_rss = rss_mib()
    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_gpu = torch.cuda.memory_allocated() / 2**20
    out = step()  # warm-up (also the output that is compared)
    sync()
    walls, cpus = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        sync()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    result = {
        "variant": args.worker,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "plan": f"transpose={plan.transpose} tile={plan.tile}",
        "wall": walls,
        "cpu": cpus,
        "peak_mb": peak_rss_mib(),
        "base_mb": base_rss,
    }
    if device.type == "cuda":
        result["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["base_mb"] = base_gpu
    torch.save(out.float().cpu(), args.out + ".pt")
    Path(args.out).write_text(json.dumps(result))


def run_variant(args: argparse.Namespace, variant: str, tmp: Path) -> dict:
    out = tmp / variant
    forward = _strip_variants(sys.argv[1:])
    cmd = [sys.executable, __file__, *forward, "--worker", variant, "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    result = json.loads(out.read_text())
    result["out_path"] = str(out) + ".pt"
    return result


def _strip_variants(argv: list[str]) -> list[str]:
    """The command line without ``--variants ...`` (the parent picks one per worker)."""
    kept, skipping = [], False
    for arg in argv:
        if arg == "--variants":
            skipping = True
            continue
        if skipping and not arg.startswith("--"):
            continue
        skipping = False
        kept.append(arg)
    return kept


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        results = [run_variant(args, v, Path(tmp)) for v in args.variants]
        outs = {r["variant"]: torch.load(r["out_path"]) for r in results}
    ref = next((r for r in results if r["variant"] == "reference"), None)
    print(
        f"one propagation step: grid {args.grid[0]}x{args.grid[1]}, C={args.frames}, "
        f"D={args.dim}, L={1 + args.objects}, R={args.radius}, top-{args.topk}; "
        f"median of {args.repeats} (after 1 warm-up), fresh subprocess per variant"
    )
    header = (
        f"{'variant':<10} {'device':<6} {'thr':>3} {'time s':>8} {'ratio':>6} {'cpu s':>7} "
        f"{'peak MiB':>9} {'ratio':>6} {'base MiB':>9} {'max|diff|':>10} {'argmax%':>8}  plan"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        wall, cpu = statistics.median(r["wall"]), statistics.median(r["cpu"])
        t_ratio = statistics.median(ref["wall"]) / wall if ref else float("nan")
        m_ratio = r["peak_mb"] / ref["peak_mb"] if ref else float("nan")
        if ref:
            diff = (outs[r["variant"]] - outs["reference"]).abs().max().item()
            same = (outs[r["variant"]].argmax(0) == outs["reference"].argmax(0)).float().mean()
        else:
            diff, same = float("nan"), torch.tensor(float("nan"))
        print(
            f"{r['variant']:<10} {r['device']:<6} {r['threads']:>3} {wall:>8.3f} "
            f"{t_ratio:>5.2f}x {cpu:>7.2f} {r['peak_mb']:>9.0f} {m_ratio:>6.3f} "
            f"{r['base_mb']:>9.0f} {diff:>10.2e} {100 * same.item():>7.3f}%  {r['plan']}"
        )
    print("ratio: reference time / variant time; memory ratio: variant peak / reference peak")
    from inovos.propagation.tiling import pair_counts, plan_layout

    h, w = args.grid
    plan = plan_layout((h, w), args.radius, args.frames, args.dim, device_type=args.device)
    work = (w, h) if plan.transpose else (h, w)
    scored, inside, dense = pair_counts(work, plan.tile, args.radius)
    print(
        f"score matmul work: windowed {scored / dense:.3f} of dense "
        f"(exact window alone: {inside / dense:.3f})"
    )


if __name__ == "__main__":
    main()
