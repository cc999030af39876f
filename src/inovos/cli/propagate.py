"""Segment objects through videos from their first annotation (label propagation).

Data (one of): --davis ROOT (DAVIS-2017 layout), --ytvos ROOT (YouTube-VOS 2018
valid layout), --frames DIR --mask FIRST.png (any folder of frames), --jhmdb ROOT
(JHMDB keypoints: OUT/<class>/<video>/joint_positions.mat) or --vip ROOT (VIP parts:
OUT/<video>/<frame>.png class ids).
Outputs: OUT/<sequence>/<frame>.png palette PNGs (object ids, DAVIS palette);
with --ytvos also OUT/Annotations.zip for the challenge server. Re-running on
the same OUT skips complete sequences and redoes incomplete ones.

Protocol presets (the published INO and DINO protocols): ino-davis, ino-ytvos, dino-davis; every knob can be
overridden (--layer, --topk, --context, --radius, --temperature, --short-side).
"""

from __future__ import annotations

import argparse
import dataclasses

from inovos.cli._options import SEED_MAX, float_in, int_in
from inovos.cli._tasks import add_data_arguments, is_task, run_propagate

HELP = "propagate first-frame masks through videos (DAVIS, YouTube-VOS, a frame folder)"

MAX_LAYER = 64  # deeper than any ViT; the loaded backbone's depth is checked too
MAX_SHORT_SIDE = 4320  # 8K video; larger inputs would not fit any accelerator


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model and friends (shared with `inovos track`)."""
    from inovos.segment import MODEL_HELP

    parser.add_argument("--model", required=True, metavar="SOURCE", help=MODEL_HELP)
    parser.add_argument(
        "--which",
        choices=("auto", "student", "teacher"),
        default="auto",
        help="network of a training checkpoint (auto: student for INO, teacher for DINO)",
    )
    parser.add_argument(
        "--patch-size",
        type=int_in(1, 64),
        default=None,
        help="patch size for random:/pixels, 1..64 (default 8; DINOv2 shapes have 14)",
    )
    parser.add_argument(
        "--seed", type=int_in(0, SEED_MAX), default=0, help="seed of random:ARCH (default 0)"
    )


def add_protocol_arguments(parser: argparse.ArgumentParser, default_preset: str | None) -> None:
    """--preset and the knobs that override it (shared with `inovos track`)."""
    g = parser.add_argument_group("protocol")
    g.add_argument(
        "--preset",
        choices=("ino-davis", "ino-ytvos", "dino-davis", "crw-jhmdb", "crw-vip"),
        default=default_preset,
        help=(
            f"protocol preset (default: {default_preset})"
            if default_preset
            else "protocol preset (default: ino-ytvos for --ytvos, else ino-davis)"
        ),
    )
    g.add_argument(
        "--layer",
        type=int_in(1, MAX_LAYER),
        help="features of intermediate_layers(n=LAYER)[0]; 1..the backbone's depth",
    )
    g.add_argument(
        "--topk", type=int_in(1, 4096), help="neighbours kept over all context frames (1..4096)"
    )
    g.add_argument(
        "--context",
        type=int_in(0, 1000),
        help="previous frames in the context (plus the first), 0..1000",
    )
    g.add_argument(
        "--radius", type=int_in(0, 10_000), help="window half-size on the feature grid (0..10000)"
    )
    g.add_argument(
        "--temperature",
        type=float_in(0, 100, low_open=True),
        help="softmax temperature of the top-k scores (above 0, at most 100)",
    )
    g.add_argument(
        "--short-side",
        type=int_in(0, MAX_SHORT_SIDE),
        help=f"resize frames so the short side has this many pixels, up to {MAX_SHORT_SIDE} "
        "(0: native size)",
    )
    g.add_argument(
        "--square-size",
        type=int_in(0, MAX_SHORT_SIDE),
        help="resize frames to an N x N square, aspect ignored (crw-jhmdb 320, crw-vip 560; "
        "0: the short-side rule)",
    )
    c = parser.add_argument_group("compute")
    c.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    c.add_argument(
        "--batch-size",
        type=int_in(1, 1024),
        default=4,
        help="frames per feature batch, 1..1024 (default 4)",
    )
    c.add_argument(
        "--half",
        choices=("none", "bf16", "fp16"),
        default="none",
        help="backbone autocast dtype on CUDA (default none: fp32)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `inovos propagate`."""
    data = parser.add_argument_group("data (choose one)")
    data.add_argument("--davis", metavar="ROOT", help="DAVIS-2017 root")
    data.add_argument("--ytvos", metavar="ROOT", help="YouTube-VOS 2018 root (holding valid/)")
    data.add_argument("--frames", metavar="DIR", help="a folder of frames (with --mask)")
    data.add_argument("--mask", metavar="PNG", help="first-frame mask of --frames")
    data.add_argument("--split", help="DAVIS image set (default val) or YouTube-VOS split (valid)")
    data.add_argument("--sequences", metavar="A,B", help="only these sequences")
    add_data_arguments(data)
    parser.add_argument("--out", required=True, metavar="OUT", help="output folder")
    parser.add_argument("--overlays", action="store_true", help="also write overlay JPEGs")
    parser.add_argument(
        "--overwrite", action="store_true", help="redo complete sequences instead of skipping them"
    )
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="score when done (--davis: J&F, --jhmdb: PCK, --vip: mIoU)",
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (0 <= I < N; e.g. a SLURM array task), sequences "
        "balanced by frames x pixels; no zip or scores (torchrun splits by itself)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(parser)
    add_protocol_arguments(parser, default_preset=None)
    from inovos.cli._sweep import add_sweep_arguments

    add_sweep_arguments(parser)


def resolve_params(args: argparse.Namespace, default_preset: str):
    """The preset named on the command line (else the data's, or a named release's for
    DAVIS-style data) with its overrides applied."""
    from inovos.models.registry import suggested_preset
    from inovos.segment.segmenter import make_params

    params = make_params(
        args.preset or suggested_preset(args.model, default_preset),
        layer=args.layer,
        topk=args.topk,
        context=args.context,
        radius=args.radius,
        temperature=args.temperature,
        short_side=args.short_side,
    )
    if getattr(args, "square_size", None) is not None:
        params = dataclasses.replace(params, square_size=args.square_size or None)
    return params


def build_model_and_options(args: argparse.Namespace, params, **extra):
    """The backbone and SegmentOptions from the model and compute options (shared with track)."""
    import torch

    from inovos.devices import resolve_device
    from inovos.segment.models import check_feature_layer, load_feature_model, preferred_layer
    from inovos.segment.runner import SegmentOptions
    from inovos.segment.shards import torchrun_shard

    shard = torchrun_shard()  # under torchrun, plain cuda is this rank's cuda:LOCAL_RANK
    device = resolve_device(args.device, "--device", shard.local_rank if shard else None)
    half = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.half]
    model = load_feature_model(
        args.model, patch_size=args.patch_size, which=args.which, seed=args.seed, device=device
    )
    layer = preferred_layer(model) if args.layer is None else None
    if layer is not None:  # the model family's own feature layer (DINOv2: the last block)
        params = dataclasses.replace(params, n_last=layer)
    check_feature_layer(model, params.n_last)
    options = SegmentOptions(
        params=params,
        device=device,
        batch_size=args.batch_size,
        feature_dtype=half if device.type == "cuda" else None,
        **extra,
    )
    return model, options


def run_settings(args: argparse.Namespace, model, params, options, data: dict):
    """What ``run.json`` records for this command line (shared with track)."""
    from inovos.models.registry import suggested_preset
    from inovos.records import model_settings, run_settings
    from inovos.segment.runner import RunSettings

    source = model_settings(
        args.model, which=args.which, seed=args.seed, patch_size=int(model.patch_size)
    )
    preset = args.preset or suggested_preset(args.model, data.get("preset", "ino-davis"))
    settings = run_settings(source, preset, params, options.feature_dtype)
    return RunSettings(settings, {k: v for k, v in data.items() if k != "preset"})


def _data_record(args: argparse.Namespace, default_preset: str) -> dict:
    from pathlib import Path

    where = {
        k: str(Path(getattr(args, k)).resolve())
        for k in ("davis", "ytvos", "frames", "mask")
        if getattr(args, k, None)
    }
    split = args.split or ("valid" if args.ytvos else "val" if args.davis else None)
    return {"preset": default_preset, **where, "split": split}


def _open_data(args: argparse.Namespace):
    from inovos.errors import InovosError

    chosen = [k for k in ("davis", "ytvos", "frames") if getattr(args, k)]
    if len(chosen) != 1:
        raise InovosError("give exactly one of --davis, --ytvos or --frames")
    names = None if args.sequences is None else args.sequences.split(",")
    if args.davis:
        from inovos.vos.davis import DavisDataset

        ds = DavisDataset(args.davis, split=args.split or "val")
        return "ino-davis", [ds.sequence(n) for n in (names or ds.names)]
    if args.ytvos:
        from inovos.vos.ytvos import YouTubeVOSDataset

        yt = YouTubeVOSDataset(args.ytvos, split=args.split or "valid")
        return "ino-ytvos", [yt.sequence(n) for n in (names or yt.names)]
    if not args.mask:
        raise InovosError("--frames needs --mask FIRST.png (the first frame's object mask)")
    from inovos.vos.folder import open_folder

    return "ino-davis", [open_folder(args.frames, args.mask)]


def run(args: argparse.Namespace) -> int:
    """Propagate, write PNGs (and the YouTube-VOS zip), print a summary."""
    if is_task(args):
        return run_propagate(args)
    from pathlib import Path

    from inovos.cli._sweep import cached_features, plan_cache, plan_sweep, run_sweep_command
    from inovos.segment.outdir import removed_on_failure
    from inovos.segment.runner import segment_sequences

    default_preset, sequences = _open_data(args)
    shard = _open_shard(args)
    params = resolve_params(args, default_preset)
    points, cache = plan_sweep(args, params), plan_cache(args)
    model, options = build_model_and_options(
        args, params, overlays=args.overlays, resume=not args.overwrite
    )
    options = dataclasses.replace(options, feature_cache=cached_features(args, cache))
    if points is not None and options.params != params:  # the model chose its layer
        points = plan_sweep(args, options.params)
    data = _data_record(args, default_preset)
    if points is not None:
        finish = lambda folder: _finish(args, sequences, folder, quiet=True)  # noqa: E731
        settings = lambda p: run_settings(args, model, p, options, data)  # noqa: E731
        return run_sweep_command(args, model, sequences, options, points, cache, finish, settings)
    out = Path(args.out)
    run = run_settings(args, model, options.params, options, data)
    if shard is None:
        with removed_on_failure(out):
            results = segment_sequences(
                model, sequences, out, options, progress=not args.no_progress, run=run
            )
        print(_summary(results, out))
        _finish(args, sequences, out)
        return 0
    return _run_shard(args, shard, model, sequences, out, options, run)


def _summary(results, out) -> str:
    done = [r for r in results if not r.skipped]
    frames = sum(r.frames for r in done)
    seconds = sum(r.seconds for r in done)
    rate = f"{frames / seconds:.2f} frames/s" if seconds > 0 else "-"
    return (
        f"{len(done)} sequences propagated ({frames} frames, {seconds:.1f} s, {rate}), "
        f"{len(results) - len(done)} already complete; masks in {out}"
    )


def _open_shard(args: argparse.Namespace):
    """This process's shard: torchrun's rank, --shard I/N, or None (all sequences)."""
    from inovos.errors import InovosError
    from inovos.segment.shards import join_group, parse_shard, torchrun_shard

    shard = torchrun_shard()
    if args.shard is not None:
        if shard is not None:
            raise InovosError("--shard splits the work itself: do not combine it with torchrun")
        shard = parse_shard(args.shard)
    if shard is not None and args.sweep:
        raise InovosError("--sweep runs in one process: do not combine it with --shard or torchrun")
    if shard is not None:
        join_group(shard)
    return shard


def _run_shard(args, shard, model, sequences, out, options, run) -> int:
    """Segment this shard's sequences; rank 0 of torchrun then finishes for everyone."""
    from inovos.segment.outdir import removed_on_failure
    from inovos.segment.runner import segment_sequences
    from inovos.segment.shards import check_complete, gather, leave_group, my_sequences

    mine = my_sequences(sequences, shard)
    progress = not args.no_progress and shard.is_main
    try:
        with removed_on_failure(out):
            results = segment_sequences(model, mine, out, options, progress=progress, run=run)
        everyone = gather(shard, results)  # also the barrier: every rank is done
    finally:
        leave_group(shard)
    where = f"shard {shard.index}/{shard.count}"
    if not shard.distributed:
        print(f"{where}: {len(mine)} of {len(sequences)} sequences; {_summary(results, out)}")
        data = f"--davis {args.davis}" if args.davis else f"--ytvos {args.ytvos}"
        print(
            f"when every shard is done: inovos evaluate {out} {data} (checks that every "
            "sequence is there, then scores DAVIS or writes the YouTube-VOS zip)"
        )
        return 0
    if not shard.is_main:
        return 0
    merged = [r for part in everyone for r in part]
    print(f"{shard.count} ranks: {_summary(merged, out)}")
    check_complete(sequences, out)
    _finish(args, sequences, out)
    return 0


def _finish(args: argparse.Namespace, sequences, out, quiet: bool = False):
    """The YouTube-VOS zip and, with --evaluate, J&F of the results folder ``out``.

    Returns:
        The ``EvalResult``, or None when nothing was evaluated.
    """
    if args.ytvos:
        from inovos.vos.ytvos import write_ytvos_submission_zip

        expected = {s.name: s.output_frames for s in sequences}
        zip_path = write_ytvos_submission_zip(out, out / "Annotations.zip", expected)
        if not quiet:
            print(f"wrote {zip_path}")
    if not args.evaluate:
        return None
    if not args.davis:
        print("--evaluate needs --davis (ground truth); skipped")
        return None
    from inovos.evaluation.davis import evaluate_davis
    from inovos.evaluation.results import global_table

    names = [s.name for s in sequences]
    result = evaluate_davis(args.davis, out, split=args.split or "val", sequences=names)
    if not quiet:
        print(global_table(result))
    return result
