"""A 12-point protocol sweep with and without the feature cache, side by side.

Makes (once, under --data) a small look-alike DAVIS set with `inovos synth davis`, then
runs the same sweep through `inovos propagate`, alternating in one process:

- no cache (``--no-feature-cache``): every point recomputes the backbone features;
- cache, cold (a fresh ``--feature-cache`` folder): the first point computes them, the
  other points read them back;
- cache, warm (the folder the cold run filled): nothing is computed.

It prints the wall time of each (median over --repeats), the ratios to the run without
the cache, the cache's size on disk, and checks that all three wrote the same PNGs.

    python benchmarks/sweep_cache.py
    python benchmarks/sweep_cache.py --sequences 4 --frames 10 --short-side 240 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from inovos.cli import main as inovos
from inovos.segment.feature_cache import FeatureCache

GRID = ["topk=5,10,20", "radius=12,24", "temperature=0.05,0.1"]  # 3 x 2 x 2 = 12 points


def pngs(folder: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every PNG under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def sweep(args: argparse.Namespace, data: Path, out: Path, cache: list[str]) -> float:
    """Wall seconds of one `inovos propagate --sweep` run (its output is swallowed)."""
    command = ["propagate", "--davis", str(data), "--out", str(out), "--no-progress"]
    command += ["--model", f"random:{args.arch}", "--short-side", str(args.short_side)]
    command += ["--device", args.device, "--sweep", *GRID, *cache]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = inovos(command)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"inovos {' '.join(command)} exited with {status}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "inovos-sweep")
    parser.add_argument("--sequences", type=int, default=2)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--arch", default="vit_small", help="random:ARCH backbone (patch 8)")
    parser.add_argument("--short-side", type=int, default=120)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    data = args.data / f"davis-{args.sequences}x{args.frames}"
    if not (data / "ImageSets").is_dir():
        inovos(["synth", "davis", str(data), "--sequences", str(args.sequences),
                "--frames", str(args.frames), "--seed", "0"])  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="inovos-sweep-bench-"))
    times: dict[str, list[float]] = {"no cache": [], "cache, cold": [], "cache, warm": []}
    size = 0
    try:
        for r in range(args.repeats):
            cache_dir = work / f"cache{r}"
            flags = {
                "no cache": ["--no-feature-cache"],
                "cache, cold": ["--feature-cache", str(cache_dir)],
                "cache, warm": ["--feature-cache", str(cache_dir)],
            }
            outputs = {}
            for name, cache in flags.items():
                outputs[name] = work / f"{r}-{name.replace(', ', '-').replace(' ', '-')}"
                times[name].append(sweep(args, data, outputs[name], cache))
            size = FeatureCache(cache_dir, 1 << 62).total_bytes()
            reference = pngs(outputs["no cache"])
            same = all(pngs(folder) == reference for folder in outputs.values())
            if not same or not reference:
                raise SystemExit("the sweeps with and without the cache wrote different PNGs")
            shutil.rmtree(cache_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    frames = args.sequences * args.frames
    print(
        f"12-point sweep ({' '.join(GRID)}), random:{args.arch}/8 at short side "
        f"{args.short_side}, {args.sequences} sequences x {args.frames} frames, "
        f"{args.device}, median of {args.repeats}; the three variants alternate in one run"
    )
    base = statistics.median(times["no cache"])
    print(f"{'variant':<12}  {'seconds':>8}  {'vs no cache':>11}  backbone passes")
    passes = {"no cache": 12 * frames, "cache, cold": frames, "cache, warm": 0}
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"{name:<12}  {seconds:8.1f}  {base / seconds:10.2f}x  {passes[name]:>15}")
    print(f"cache size: {size / 2**20:.1f} MiB for {frames} frames; same PNGs in all variants")


if __name__ == "__main__":
    main()
