"""Time inovos' DAVIS J&F evaluator against vos-benchmark on a generated DAVIS-val-size set.

The set (cached between runs in --data, default a folder in the temp dir): 30
sequences, about 2,000 frames of 480x854 and about 60 objects, like DAVIS-2017 val;
objects are irregular moving polygons present in the first two frames and sometimes
occluded later; the prediction shifts, grows, shrinks and jitters them and loses
objects now and then. No void pixels and every object present in the first scored
frame, so vos-benchmark's conventions coincide with the official ones and the numbers
must agree.

    python benchmarks/evaluate_jf.py --processes 2
    python benchmarks/evaluate_jf.py --small --processes 1,2 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from inovos.evaluation.davis import evaluate_davis
from inovos.evaluation.results import EvalResult
from inovos.formats.palette import write_label_png

HEIGHT, WIDTH = 480, 854
SIZES = {"full": (30, 2000, 60), "small": (6, 240, 12)}  # sequences, frames, objects


def _polygon(center, radius, harmonics, angle0, jitter=None):
    """(N, 1, 2) int32 vertices of an irregular closed curve r(theta)."""
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False) + angle0
    r = radius * (1 + sum(a * np.cos((i + 2) * theta + p) for i, (a, p) in enumerate(harmonics)))
    if jitter is not None:
        r = r + jitter
    pts = np.stack([center[0] + r * np.cos(theta), center[1] + r * np.sin(theta)], axis=1)
    return np.round(pts).astype(np.int32)[:, None, :]


def _sequence(rng: np.random.Generator, frames: int, objects: int):
    """Yield (ground truth, prediction) label maps of one sequence, frame by frame."""
    start = rng.uniform([0.15 * WIDTH, 0.2 * HEIGHT], [0.85 * WIDTH, 0.8 * HEIGHT], (objects, 2))
    velocity = rng.normal(0, 2.0, (objects, 2))
    radius = np.sort(rng.uniform(25, 110, objects))[::-1]  # small ones on top: none hidden
    harmonics = [
        [(rng.uniform(0, 0.15), rng.uniform(0, 6.3)) for _ in range(4)] for _ in range(objects)
    ]
    lost_from = [
        frames + 1 if rng.random() < 0.8 else int(rng.integers(2, frames)) for _ in range(objects)
    ]
    for t in range(frames):
        gt = np.zeros((HEIGHT, WIDTH), np.uint8)
        pred = np.zeros_like(gt)
        for k in range(objects):
            center = start[k] + t * velocity[k]
            center = np.clip(center, [0, 0], [WIDTH - 1, HEIGHT - 1])
            if t >= 2 and rng.random() < 0.05:
                continue  # occluded in this frame
            spin = 0.02 * t
            cv2.fillPoly(gt, [_polygon(center, radius[k], harmonics[k], spin)], k + 1)
            if t >= lost_from[k] or rng.random() < 0.03:
                continue  # the prediction lost it
            shift = rng.normal(0, 3, 2)
            scale = rng.uniform(0.92, 1.08)  # dilated / eroded
            jitter = rng.normal(0, 1.5, 96)
            poly = _polygon(center + shift, radius[k] * scale, harmonics[k], spin, jitter)
            cv2.fillPoly(pred, [poly], k + 1)
        yield gt, pred


def make_dataset(root: Path, size: str, seed: int = 0) -> tuple[Path, Path]:
    """Generate (or reuse) the set; returns (davis root, results folder)."""
    n_seq, n_frames, n_obj = SIZES[size]
    meta = {"size": size, "seed": seed, "version": 1}
    davis, results = root / "DAVIS", root / "results"
    meta_path = root / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        return davis, results
    rng = np.random.default_rng(seed)
    lengths = rng.uniform(0.4, 1.6, n_seq)
    lengths = np.maximum(np.round(lengths / lengths.sum() * n_frames), 5).astype(int)
    objects = np.ones(n_seq, int)
    while objects.sum() < n_obj:  # 1 to 5 objects per sequence
        objects[rng.choice(np.flatnonzero(objects < 5))] += 1
    names = [f"seq{i:02d}" for i in range(n_seq)]
    print(f"generating {lengths.sum()} frames, {objects.sum()} objects in {root} ...", flush=True)
    for name, length, k in zip(names, lengths, objects, strict=True):
        (davis / "Annotations" / "480p" / name).mkdir(parents=True, exist_ok=True)
        (results / name).mkdir(parents=True, exist_ok=True)
        for t, (gt, pred) in enumerate(_sequence(rng, int(length), int(k))):
            write_label_png(davis / "Annotations" / "480p" / name / f"{t:05d}.png", gt)
            write_label_png(results / name / f"{t:05d}.png", pred)
    (davis / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    meta_path.write_text(json.dumps(meta))
    return davis, results


def time_inovos(
    davis: Path, results: Path, processes: int, repeats: int
) -> tuple[float, EvalResult]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = evaluate_davis(davis, results, processes=processes)
        times.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(times), result


def time_vos_benchmark(davis: Path, results: Path, processes: int, repeats: int):
    from vos_benchmark.benchmark import benchmark

    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = benchmark(
            [str(davis / "Annotations" / "480p")],
            [str(results)],
            num_processes=processes,
            verbose=False,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def max_differences(result: EvalResult, vb_out) -> tuple[float, float]:
    """Largest |ours - vos-benchmark| over per-object and global J and F means, in %."""
    _, vb_j, vb_f, vb_objects = vb_out
    dj = [abs(100 * result.global_scores()["J-Mean"] - vb_j[0])]
    df = [abs(100 * result.global_scores()["F-Mean"] - vb_f[0])]
    for obj in result.objects:
        iou, boundary = vb_objects[0][obj.sequence]
        dj.append(abs(100 * obj.j_stats[0] - iou[obj.object_id]))
        df.append(abs(100 * obj.f_stats[0] - boundary[obj.object_id]))
    return max(dj), max(df)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--processes", default="2", help="comma-separated process counts (default 2)"
    )
    parser.add_argument("--small", action="store_true", help="6 sequences, ~240 frames, 12 objects")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per tool; the median is shown"
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="folder for the generated set (cached)"
    )
    args = parser.parse_args()
    size = "small" if args.small else "full"
    root = args.data or Path(tempfile.gettempdir()) / f"inovos-bench-davis-{size}"
    davis, results = make_dataset(root, size)
    rows = []
    for processes in (int(p) for p in args.processes.split(",")):
        ours, result = time_inovos(davis, results, processes, args.repeats)
        theirs, vb_out = time_vos_benchmark(davis, results, processes, args.repeats)
        dj, df = max_differences(result, vb_out)
        agree = (
            f"yes (max |dJ| {dj:.1e}, |dF| {df:.1e} %)"
            if max(dj, df) < 1e-6
            else f"NO (dJ {dj:.3g}, dF {df:.3g} %)"
        )
        rows.append(("inovos", processes, ours, 1.0, agree))
        rows.append(("vos-benchmark", processes, theirs, theirs / ours, "reference"))
    frames = sum(len(f) for f in result.frames.values())
    scores = result.global_scores()
    print(
        f"\n{len(result.sequences)} sequences, {frames} scored frames of {HEIGHT}x{WIDTH}, "
        f"{len(result.objects)} objects; J&F {100 * scores['J&F-Mean']:.2f} "
        f"(J {100 * scores['J-Mean']:.2f}, F {100 * scores['F-Mean']:.2f}); median of {args.repeats} run(s)"
    )
    print(f"{'tool':<14} {'processes':>9} {'seconds':>8} {'x inovos':>9}  numbers agree")
    for tool, processes, seconds, ratio, agree in rows:
        print(f"{tool:<14} {processes:>9} {seconds:>8.2f} {ratio:>9.2f}  {agree}")


if __name__ == "__main__":
    main()
