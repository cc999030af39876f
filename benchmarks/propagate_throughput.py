"""End-to-end label-propagation throughput on a look-alike DAVIS set, with a stage profile.

Generates (once, cached under --data) a DAVIS-layout set, then:
1. a serial, instrumented pass that times each stage (read + resize, backbone,
   propagation, PNG encode) and the backbone's achieved TFLOP/s;
2. the real pipelined runner (read-ahead thread, batched features, async writes),
   end to end, in frames/s;
3. on CUDA, the same with bf16 features, and the agreement of its masks with fp32.

    python benchmarks/propagate_throughput.py                      # CPU, small set
    python benchmarks/propagate_throughput.py --device cuda --sequences 30 --frames 70 \
        --height 480 --width 854 --arch vit_small                  # the DAVIS-val-size run
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from inovos.devices import resolve_device
from inovos.formats.palette import read_label_png, write_label_png
from inovos.propagation.features import extract_features
from inovos.propagation.presets import frames_to_input, get_preset, input_size
from inovos.propagation.propagator import Propagator
from inovos.segment.models import load_feature_model
from inovos.segment.runner import SegmentOptions, segment_sequences
from inovos.synth import write_synth_davis
from inovos.vos.davis import DavisDataset


def vit_flops(model: torch.nn.Module, tokens: int, n_last: int) -> float:
    """Multiply-adds x 2 of the blocks run by ``block_output`` for ``tokens`` tokens."""
    d, depth = int(model.embed_dim), int(model.depth)
    blocks = depth - n_last + 1
    per_block = 24 * tokens * d * d + 4 * tokens * tokens * d
    return float(blocks * per_block)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_stages(model, sequences, params, device, batch_size: int) -> dict[str, float]:
    """Serial pass with a timer per stage; returns seconds per stage and counts."""
    t = dict.fromkeys(("read", "backbone", "propagate", "write"), 0.0)
    frames = flops = 0.0
    for seq in sequences:
        size = input_size(*seq.frame_size, params, model.patch_size)
        prop = Propagator(params, seq.object_ids, model.patch_size, seq.frame_size, device)
        for start in range(0, seq.num_frames, batch_size):
            idx = range(start, min(start + batch_size, seq.num_frames))
            t0 = time.perf_counter()
            batch = frames_to_input(np.stack([seq.frame(i) for i in idx]), size).to(device)
            sync(device)
            t1 = time.perf_counter()
            feats = extract_features(model, batch, params.n_last)
            sync(device)
            t2 = time.perf_counter()
            masks = []
            for i, f in zip(idx, feats, strict=True):
                masks.append(prop.step_ids(f, seq.annotation(i)))
            sync(device)
            t3 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                for m in masks:
                    write_label_png(Path(tmp) / "x.png", m)
            t4 = time.perf_counter()
            t["read"] += t1 - t0
            t["backbone"] += t2 - t1
            t["propagate"] += t3 - t2
            t["write"] += t4 - t3
            tokens = 1 + (size[0] // model.patch_size) * (size[1] // model.patch_size)
            flops += len(idx) * vit_flops(model, tokens, params.n_last)
            frames += len(idx)
    t["frames"], t["flops"] = frames, flops
    return t


def run_pipeline(model, sequences, params, device, out: Path, dtype, batch_size: int) -> float:
    options = SegmentOptions(
        params, device=device, batch_size=batch_size, feature_dtype=dtype, resume=False
    )
    sync(device)
    start = time.perf_counter()
    segment_sequences(model, sequences, out, options, progress=False)
    sync(device)
    return time.perf_counter() - start


def agreement(a: Path, b: Path, sequences) -> float:
    same = total = 0
    for seq in sequences:
        for name in seq.output_frames:
            x = read_label_png(a / seq.name / f"{name}.png")
            y = read_label_png(b / seq.name / f"{name}.png")
            same += int((x == y).sum())
            total += x.size
    return same / total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "inovos-bench-davis"))
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--width", type=int, default=427)
    p.add_argument("--arch", default="vit_tiny")
    p.add_argument("--short-side", type=int, default=240, help="0: the preset's (480)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=4)
    args = p.parse_args()

    device = resolve_device(args.device)
    data = Path(args.data) / f"{args.sequences}x{args.frames}-{args.height}x{args.width}"
    if not (data / "ImageSets" / "2017" / "val.txt").is_file():
        write_synth_davis(
            data,
            num_sequences=args.sequences,
            num_frames=args.frames,
            size=(args.height, args.width),
            seed=7,
            overwrite=True,
        )
    sequences = list(DavisDataset(data))
    params = get_preset("ino-davis")
    if args.short_side:
        params = dataclasses.replace(params, short_side=args.short_side)
    model = load_feature_model(f"random:{args.arch}", patch_size=8, device=device)

    stages = profile_stages(model, sequences, params, device, args.batch_size)
    frames = stages["frames"]
    busy = sum(stages[k] for k in ("read", "backbone", "propagate", "write"))
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = run_pipeline(
            model, sequences, params, device, Path(tmp) / "fp32", None, args.batch_size
        )
        rows = [("pipelined fp32", fp32, "")]
        if device.type == "cuda":
            bf16 = run_pipeline(
                model,
                sequences,
                params,
                device,
                Path(tmp) / "bf16",
                torch.bfloat16,
                args.batch_size,
            )
            agree = agreement(Path(tmp) / "fp32", Path(tmp) / "bf16", sequences)
            rows.append(("pipelined bf16", bf16, f"{100 * agree:.3f}% pixels equal to fp32"))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device: {name}; {len(sequences)} sequences, {int(frames)} frames of "
        f"{args.height}x{args.width}; {args.arch}/8; ino-davis, short side {params.short_side}"
    )
    print(f"\n{'stage':<12}{'seconds':>10}{'share':>9}")
    for k in ("read", "backbone", "propagate", "write"):
        print(f"{k:<12}{stages[k]:>10.2f}{100 * stages[k] / busy:>8.1f}%")
    print(f"backbone achieved {stages['flops'] / stages['backbone'] / 1e12:.3f} TFLOP/s")
    print(f"\n{'run':<16}{'seconds':>10}{'frames/s':>10}  note")
    print(f"{'serial (sum)':<16}{busy:>10.2f}{frames / busy:>10.2f}")
    for label, secs, note in rows:
        print(f"{label:<16}{secs:>10.2f}{frames / secs:>10.2f}  {note}")


if __name__ == "__main__":
    main()
