"""`inovos propagate --jhmdb/--vip` and `inovos evaluate --jhmdb/--vip`: the keypoint
(JHMDB, PCK) and part (VIP, mIoU) propagation tasks."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from inovos.errors import InovosError

DATA_FLAGS = ("davis", "ytvos", "frames", "jhmdb", "vip")


def is_task(args: argparse.Namespace) -> bool:
    """True when the command line names a JHMDB or VIP root."""
    return bool(getattr(args, "jhmdb", None) or getattr(args, "vip", None))


def _check_one(args: argparse.Namespace, flags: tuple[str, ...]) -> None:
    chosen = [f for f in flags if getattr(args, f, None)]
    if len(chosen) != 1:
        names = ", ".join(f"--{f}" for f in flags)
        raise InovosError(f"give exactly one of {names}")


def _refuse(args: argparse.Namespace, flags: tuple[str, ...]) -> None:
    """Options of the DAVIS path that would be ignored here are errors, not silence."""
    for flag in flags:
        if getattr(args, flag, None):
            option = "--" + flag.replace("_", "-")
            raise InovosError(f"{option} does not apply to --jhmdb or --vip")


def _names(args: argparse.Namespace, known: tuple[str, ...]) -> list[str]:
    if args.sequences is None:
        return list(known)
    names = [n for n in args.sequences.split(",") if n]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InovosError(f"--sequences: {unknown[0]!r} is not a video of the list")
    return names


def run_propagate(args: argparse.Namespace) -> int:
    """Propagate keypoints or parts, print a summary (and the scores with --evaluate)."""
    from inovos.cli._sweep import cached_features, plan_cache
    from inovos.cli.propagate import build_model_and_options, resolve_params

    _check_one(args, DATA_FLAGS)
    if getattr(args, "sweep", None):
        raise InovosError("--sweep works with --davis, --ytvos and --frames, not --jhmdb or --vip")
    _refuse(args, ("split", "mask", "overlays"))
    out = Path(args.out)
    progress = not args.no_progress
    cache = plan_cache(args)  # --feature-cache DIR: features shared with later runs
    # every input is opened and checked before the model is built and anything is written
    if args.jhmdb:
        from inovos.segment.keypoints import propagate_jhmdb
        from inovos.vos.jhmdb import JhmdbDataset

        jhmdb = JhmdbDataset(args.jhmdb, args.list)
        videos = [jhmdb.sequence(n) for n in _names(args, jhmdb.names)]
        model, options = build_model_and_options(
            args, resolve_params(args, "crw-jhmdb"), resume=not args.overwrite
        )
        options = dataclasses.replace(options, feature_cache=cached_features(args, cache))
        results = propagate_jhmdb(model, videos, out, options, progress)
    else:
        from inovos.segment.parts import propagate_vip
        from inovos.vos.vip import VipDataset

        vip = VipDataset(args.vip, args.list)
        clips = [vip.sequence(n) for n in _names(args, vip.names)]
        model, options = build_model_and_options(
            args, resolve_params(args, "crw-vip"), resume=not args.overwrite
        )
        options = dataclasses.replace(options, feature_cache=cached_features(args, cache))
        results = propagate_vip(model, clips, out, options, progress)
    done = [r for r in results if not r.skipped]
    frames = sum(r.frames for r in done)
    seconds = sum(r.seconds for r in done)
    print(
        f"{len(done)} videos propagated ({frames} frames, {seconds:.1f} s), "
        f"{len(results) - len(done)} already complete; predictions in {out}"
    )
    if args.evaluate:
        _print_scores(args, out)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Score keypoints (PCK) or parts (mIoU), print the table, write the CSV."""
    _check_one(args, ("davis", "jhmdb", "vip"))
    _refuse(args, ("per_sequence",))
    _print_scores(args, Path(args.results))
    return 0


def _print_scores(args: argparse.Namespace, results: Path) -> None:
    from inovos.vos.jhmdb import JhmdbDataset
    from inovos.vos.vip import VipDataset

    if args.jhmdb:
        from inovos.evaluation import jhmdb

        data = JhmdbDataset(args.jhmdb, args.list)
        truths = {n: data.sequence(n).joints() for n in _names(args, data.names)}
        pck = jhmdb.evaluate_jhmdb(truths, results)
        scored = int(pck.scored.sum())
        print(f"JHMDB keypoints, PCK (%) over {pck.videos} videos ({scored} joints scored):")
        print(jhmdb.table(pck))
        print(f"wrote {pck.csv_path}")
    else:
        from inovos.evaluation import vip

        clips = VipDataset(args.vip, args.list)
        labelled = {}
        for name in _names(args, clips.names):
            video = clips.sequence(name)
            labelled[name] = [
                (video.frame_names[i], p) for i, p in sorted(video.label_paths.items())
            ]
        miou = vip.evaluate_vip(labelled, results)
        print(f"VIP parts, IoU (%) over {miou.videos} videos ({miou.frames} frames):")
        print(vip.table(miou))
        print(f"wrote {miou.csv_path}")


def add_data_arguments(group: argparse._ArgumentGroup) -> None:
    """--jhmdb, --vip and --list (shared by propagate and evaluate)."""
    group.add_argument("--jhmdb", metavar="ROOT", help="JHMDB root (keypoints, PCK)")
    group.add_argument("--vip", metavar="ROOT", help="VIP root (parts, mIoU)")
    group.add_argument(
        "--list",
        metavar="FILE",
        help="with --jhmdb: a 'FRAMES_DIR MAT_FILE' list (default ROOT/testlist_split1.txt, "
        "else the split-1 test videos); with --vip: video names (default "
        "ROOT/lists/val_videos.txt)",
    )
