"""Learning curve: J&F of the student and the EMA teacher against training steps.

Trains a preset for a fixed number of STEPS (not minutes, so machine load does not
change the result) on the demo's training videos, stopping every ``--every`` steps to
export the student and the teacher backbones, segment a look-alike DAVIS set with each
(``ino-davis`` at the demo's short side) and score it. The run is one schedule: each
stop is a bounded ``train`` call that the next call resumes exactly from the checkpoint.

Evaluation sets (never used for training): ``heldout`` is the demo's held-out set
(its own seed and textures); ``tuning`` has another seed and textures disjoint from
both training and held-out ones, and is the only set to choose settings on.

Baselines: the run's own step-0 weights (random init of the same architecture) and
raw patch pixels. Writes ``curve.csv`` (step, source, J&F, J, F, seconds per step),
``curve.png`` (J&F against steps over the loss terms and teacher entropy of
``run/log.jsonl``) and prints the table.

    python benchmarks/learning_curve.py --steps 360 --every 72 --out lc/tiny-cpu
    python benchmarks/learning_curve.py --steps 360 --every 72 --eval tuning \\
        --set loss.teacher_temp=0.02 --out lc/try1
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from inovos.config import TrainConfig, apply_overrides, resolve_config
from inovos.demo import (
    DemoOptions,
    make_heldout_set,
    make_training_data,
    make_tuning_set,
    score_source,
)
from inovos.models.checkpoints import save_weights
from inovos.train.distributed import DistInfo
from inovos.train.export import export_backbone
from inovos.train.main import train
from inovos.train.setup import build_data, build_network, seed_everything

SOURCES = ("student", "teacher")
EVAL_SETS = ("heldout", "tuning")
LOSS_KEYS = ("out", "mim", "aff")
MASKED_KEYS = ("mim", "aff")  # logged as 0 on steps without a mask


@dataclass(frozen=True)
class Point:
    """One scored feature source at one step."""

    step: int
    source: str  # student | teacher | random (step 0) | pixels
    jf: float
    j: float
    f: float
    seconds_per_step: float = math.nan  # steady-state step time of the chunk that ended here


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny-cpu", help="training preset (default tiny-cpu)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, repeatable",
    )
    parser.add_argument("--steps", type=int, default=360, help="training steps to run and score")
    parser.add_argument(
        "--schedule",
        type=int,
        default=0,
        help="steps of the lr / momentum schedule, rounded up to whole epochs (default: the "
        "preset's optim.epochs); --steps may stop part way, as the demo does",
    )
    parser.add_argument("--every", type=int, default=72, help="score every this many steps")
    parser.add_argument(
        "--eval",
        choices=EVAL_SETS,
        default="heldout",
        help="evaluation set (choose settings on 'tuning' only)",
    )
    parser.add_argument(
        "--sources", default="student,teacher", help="comma-separated: student, teacher"
    )
    parser.add_argument(
        "--student-at-end",
        action="store_true",
        help="score the student only at the last stop (saves time on a slow machine)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for this run")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("lc-data"),
        help="folder for the training videos and evaluation sets (reused)",
    )
    parser.add_argument(
        "--eval-size",
        default="4x24",
        help="evaluation set: SEQUENCESxFRAMES (default 4x24, the demo's; keep one --data "
        "folder per size)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    args = parser.parse_args(argv)
    sources = tuple(s for s in args.sources.split(",") if s)
    if not sources or set(sources) - set(SOURCES):
        parser.error(f"--sources must name some of {', '.join(SOURCES)}")
    if args.steps < 1 or args.every < 1:
        parser.error("--steps and --every must be >= 1")
    if args.schedule < 0:
        parser.error("--schedule must be >= 0")
    args.sources = sources
    try:
        args.eval_sequences, args.eval_frames = (int(v) for v in args.eval_size.split("x"))
    except ValueError:
        parser.error(f"--eval-size must look like 4x24, got {args.eval_size!r}")
    return args


def run_config(args: argparse.Namespace, list_file: Path) -> tuple[TrainConfig, int]:
    """The preset with the overrides, sized to whole epochs covering ``--schedule``; its steps."""
    base = [
        *args.overrides,
        f"data.source={list_file}",
        f"run.output_dir={args.out / 'run'}",
        f"run.seed={args.seed}",
        "run.save_views=false",
    ]
    config = resolve_config(args.preset, base)
    per_epoch = build_data(config, DistInfo(), torch.device("cpu")).iters_per_epoch
    epochs = math.ceil(args.schedule / per_epoch) if args.schedule else config.optim.epochs
    if epochs * per_epoch < args.steps:
        raise SystemExit(
            f"learning_curve.py: error: the schedule has {epochs * per_epoch} steps, "
            f"fewer than --steps {args.steps} (raise --schedule)"
        )
    return resolve_config(args.preset, [*base, f"optim.epochs={epochs}"]), epochs * per_epoch


def initial_backbone(config: TrainConfig, path: Path) -> Path:
    """Write the run's step-0 backbone (the same weights training starts from)."""
    seed_everything(config.run.seed)
    network = build_network(config.model, config.model.drop_path_rate)
    with torch.no_grad():
        save_weights(network.backbone.eval(), path, {"source": "initial", "iteration": 0})
    return path


def score(
    options: DemoOptions,
    davis: Path,
    name: str,
    model: str,
    step: int,
    source: str,
    step_s: float = math.nan,
) -> Point:
    """Segment ``davis`` with ``model`` and score it (the demo's protocol)."""
    result = score_source(options, davis, name, model)
    return Point(step, source, result.jf, result.j, result.f, step_s)


def baseline(options: DemoOptions, davis: Path, name: str, model: str) -> Point:
    """A step-0 score, reused from ``<davis>/../baselines.json`` when the same weights
    were scored on the same set before (baselines do not change between runs)."""
    key = f"{davis.name}:{options.short_side}:{_digest(model)}"
    cache = davis.parent / "baselines.json"
    known = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else {}
    if key in known:
        print(f"{name}: J&F reused from {cache} ({key})")
        return Point(0, name, *known[key])
    point = score(options, davis, name, model, 0, name)
    known[key] = [point.jf, point.j, point.f]
    cache.write_text(json.dumps(known, indent=1), encoding="utf-8")
    return point


def _digest(model: str) -> str:
    """The weights' identity: a hash of the tensors (names, dtypes, shapes, bytes), not of
    the file, so a change of metadata format alone does not miss the cache."""
    if not Path(model).is_file():
        return model
    from safetensors.torch import load_file

    digest = hashlib.sha256()
    for name, tensor in sorted(load_file(model).items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def learning_curve(
    args: argparse.Namespace, data_options: DemoOptions
) -> tuple[list[Point], TrainConfig]:
    """Train in ``--every``-step chunks; score the baselines and every chunk's exports.

    ``data_options`` sizes the training videos and the evaluation set (the demo's by
    default) and names the folder they are kept in.
    """
    list_file = make_training_data(data_options)
    davis = (make_heldout_set if args.eval == "heldout" else make_tuning_set)(data_options)
    options = replace(data_options, workdir=args.out)
    config, scheduled = run_config(args, list_file)
    steps = args.steps
    print(f"{scheduled} scheduled steps ({config.optim.epochs} epochs), scored to step {steps}")
    weights = args.out / "weights"
    initial = initial_backbone(config, weights / "initial.safetensors")
    points = [
        baseline(options, davis, "pixels", "pixels"),
        baseline(options, davis, "random", str(initial)),
    ]
    _print_point(points[0])
    _print_point(points[1])
    stops = [*range(args.every, steps, args.every), steps]
    for i, stop in enumerate(stops):
        chunk = apply_overrides(config, {"run.max_iters": stop})
        summary = train(chunk, resume=i > 0)
        last = stop == stops[-1]
        for source in args.sources:
            if source == "student" and args.student_at_end and not last:
                continue
            path = weights / f"{source}_{stop:06d}.safetensors"
            export_backbone(summary.checkpoint, path, which=source)
            point = score(
                options,
                davis,
                f"{source}_{stop:06d}",
                str(path),
                stop,
                source,
                summary.seconds_per_step,
            )
            points.append(point)
            _print_point(point)
    return points, config


def _print_point(p: Point) -> None:
    print(f"step {p.step:6d}  {p.source:8s}  J&F {p.jf:5.1f}", flush=True)


def write_csv(points: list[Point], path: Path) -> None:
    """One row per scored source and step."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "source", "jf", "j", "f", "seconds_per_step"])
        for p in points:
            writer.writerow(
                [
                    p.step,
                    p.source,
                    f"{p.jf:.3f}",
                    f"{p.j:.3f}",
                    f"{p.f:.3f}",
                    "" if math.isnan(p.seconds_per_step) else f"{p.seconds_per_step:.3f}",
                ]
            )


def read_log(path: Path) -> list[dict[str, Any]]:
    """The run's per-epoch records (``log.jsonl``; per-step lines left out), empty when missing."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [r for r in (json.loads(line) for line in lines if line) if r.get("kind") != "step"]


def table(points: list[Point]) -> str:
    """Markdown table: J&F per step for each trained source, and the gain over random."""
    base = {p.source: p.jf for p in points if p.step == 0}
    trained = sorted({p.source for p in points} - {"pixels", "random"})
    by_step: dict[int, dict[str, Point]] = {}
    for p in points:
        if p.source in trained:
            by_step.setdefault(p.step, {})[p.source] = p
    head = ["step", *(f"{s} J&F" for s in trained), *(f"{s} - random" for s in trained), "s/step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines.append(
        "| 0 | "
        + " | ".join(f"{base['random']:.1f}" for _ in trained)
        + " | "
        + " | ".join("0.0" for _ in trained)
        + " | |"
    )
    for step, row in sorted(by_step.items()):
        jfs = [f"{row[s].jf:.1f}" if s in row else "" for s in trained]
        gains = [f"{row[s].jf - base['random']:+.1f}" if s in row else "" for s in trained]
        step_s = next(iter(row.values())).seconds_per_step
        lines.append(f"| {step} | " + " | ".join(jfs + gains) + f" | {step_s:.2f} |")
    lines.append(f"\nrandom init (step 0) {base['random']:.1f}, raw pixels {base['pixels']:.1f}")
    return "\n".join(lines)


def _per_masked_step(means: dict[str, float], key: str) -> float:
    """An epoch mean; for terms that are 0 on unmasked steps, the mean over masked steps."""
    value = means.get(key, math.nan)
    if key in MASKED_KEYS and "masked" in means:
        return value / means["masked"] if means["masked"] > 0 else math.nan
    return value


def plot(
    points: list[Point], log: list[dict[str, Any]], out_dim: int, path: Path, title: str
) -> None:
    """J&F against steps (top) over the loss terms and teacher entropy (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    base = {p.source: p.jf for p in points if p.step == 0}
    for source, color in (("teacher", "tab:red"), ("student", "tab:blue")):
        mine = sorted((p.step, p.jf) for p in points if p.source == source)
        if mine:
            xs, ys = zip(*[(0, base["random"]), *mine], strict=True)
            top.plot(
                xs,
                ys,
                "o-",
                color=color,
                label=f"{source} (EMA)" if source == "teacher" else source,
            )
    top.axhline(base["random"], color="gray", ls="--", label="random init")
    top.axhline(base["random"] + 5, color="gray", ls=":", lw=0.8, label="random + 5")
    top.axhline(base["pixels"], color="black", ls="-.", label="raw pixels")
    top.set_ylabel("J&F (held-out look-alike DAVIS)")
    top.set_title(textwrap.fill(title, 90), fontsize=9)  # long override lists wrap
    top.legend(fontsize=8, loc="best")
    top.grid(alpha=0.3)
    steps = [r["iteration"] for r in log]
    keys = [k for k in LOSS_KEYS if any(k in r["train"] for r in log)]
    keys += sorted({k for r in log for k in r["train"] if "entropy" in k})
    for key in keys:
        values = [_per_masked_step(r["train"], key) for r in log]
        label = f"{key} (masked steps)" if key in MASKED_KEYS else key
        bottom.plot(steps, values, ".-", label=label)
    bottom.axhline(math.log(out_dim), color="gray", ls="--", lw=0.8, label="ln K (uniform)")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("epoch mean (nats)")
    bottom.legend(fontsize=7, ncol=3, loc="best")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    data_options = DemoOptions(
        workdir=args.data,
        heldout_sequences=args.eval_sequences,
        heldout_frames=args.eval_frames,
        progress=False,
    )
    points, config = learning_curve(args, data_options)
    write_csv(points, args.out / "curve.csv")
    log = read_log(args.out / "run" / "log.jsonl")
    title = f"{args.preset} {' '.join(args.overrides)}".strip()
    plot(points, log, config.model.out_dim, args.out / "curve.png", title)
    step_times = [p.seconds_per_step for p in points if not math.isnan(p.seconds_per_step)]
    print(table(points))
    if step_times:
        print(
            f"seconds per step (steady state, median of chunks): {statistics.median(step_times):.2f}"
        )
    print(
        f"wall {(time.perf_counter() - began) / 60:.1f} min; wrote {args.out / 'curve.csv'}, "
        f"{args.out / 'curve.png'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
