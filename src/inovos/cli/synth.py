"""Write look-alike benchmark data: photo-textured shapes that move, rotate, scale and
occlude each other over real moving clips, in the exact folder layouts of the
benchmarks, deterministic by --seed.

  inovos synth davis OUT    DAVIS-2017 layout (JPEGImages/480p, Annotations/480p, ImageSets/2017)
  inovos synth ytvos OUT    YouTube-VOS 2018 valid layout (valid/, valid_all_frames/, meta.json)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inovos.cli._options import SEED_MAX, float_in, int_in

HELP = "write synthetic look-alike DAVIS-2017 / YouTube-VOS data"


@dataclass(frozen=True)
class Target:
    """One `inovos synth <target>`: its help, its arguments and a writer returning a summary."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    write: Callable[[argparse.Namespace], str]


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def add_scene_arguments(
    parser: argparse.ArgumentParser, frames: int, height: int, width: int, objects: bool = True
) -> None:
    """OUT and the options every synthetic-scene target shares (--objects if ``objects``)."""
    parser.add_argument("out", metavar="OUT", help="output folder (created; must be empty)")
    parser.add_argument(
        "--sequences",
        type=int_in(1, 10_000),
        default=4,
        help="sequences to write, 1..10000 (default 4)",
    )
    parser.add_argument(
        "--frames",
        type=int_in(2, 10_000),
        default=frames,
        help=f"frames per sequence, 2..10000 (default {frames})",
    )
    parser.add_argument(
        "--height",
        type=int_in(16, 4320),
        default=height,
        help=f"frame height, 16..4320 (default {height})",
    )
    parser.add_argument(
        "--width",
        type=int_in(16, 7680),
        default=width,
        help=f"frame width, 16..7680 (default {width})",
    )
    if objects:
        parser.add_argument(
            "--objects",
            type=int_in(1, 254),
            default=3,
            help="at most this many objects per sequence, 1..254 (default 3)",
        )
    parser.add_argument(
        "--seed",
        type=int_in(0, SEED_MAX),
        default=0,
        help="random seed; same seed, same bytes (default 0)",
    )
    parser.add_argument(
        "--textures",
        type=_names,
        default=None,
        help="comma-separated photo names for objects (default all)",
    )
    parser.add_argument(
        "--backgrounds",
        type=_names,
        default=None,
        help="comma-separated clip names for backgrounds (default all)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the layout folders of a non-empty OUT"
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )


def _scene_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "num_sequences": args.sequences,
        "num_frames": args.frames,
        "size": (args.height, args.width),
        "max_objects": getattr(args, "objects", 1),
        "seed": args.seed,
        "textures": args.textures,
        "backgrounds": args.backgrounds,
        "overwrite": args.overwrite,
        "progress": args.progress,
    }


def _davis_arguments(parser: argparse.ArgumentParser) -> None:
    add_scene_arguments(parser, frames=30, height=480, width=854)
    parser.add_argument(
        "--split",
        choices=("val", "train"),
        default="val",
        help="split file listing the sequences (default val)",
    )
    parser.add_argument(
        "--void-prob",
        type=float_in(0, 1),
        default=0.2,
        help="chance a later frame gets a void boundary band (default 0.2)",
    )


def _write_davis(args: argparse.Namespace) -> str:
    from inovos.synth import write_synth_davis
    from inovos.vos.davis import DavisDataset

    root = write_synth_davis(
        args.out, split=args.split, void_prob=args.void_prob, **_scene_kwargs(args)
    )
    sequences = list(DavisDataset(root, split=args.split))
    frames = sum(s.num_frames for s in sequences)
    objects = sum(len(s.object_ids) for s in sequences)
    return f"wrote {len(sequences)} DAVIS-2017 sequences ({frames} frames, {objects} objects) to {root}"


def _ytvos_arguments(parser: argparse.ArgumentParser) -> None:
    add_scene_arguments(parser, frames=36, height=720, width=1280)
    parser.add_argument(
        "--stride",
        type=int_in(1, 100),
        default=5,
        help="every stride-th frame is listed in valid/JPEGImages (default 5)",
    )


def _write_ytvos(args: argparse.Namespace) -> str:
    from inovos.synth import write_synth_ytvos
    from inovos.vos.ytvos import YouTubeVOSDataset

    root = write_synth_ytvos(args.out, stride=args.stride, **_scene_kwargs(args))
    videos = list(YouTubeVOSDataset(root))
    frames = sum(v.num_frames for v in videos)
    objects = sum(len(v.object_ids) for v in videos)
    late = sum(1 for v in videos for t in v.first_frame_of.values() if t > 0)
    return (
        f"wrote {len(videos)} YouTube-VOS videos ({frames} frames, {objects} objects, "
        f"{late} entering late) to {root}"
    )


def _jhmdb_arguments(parser: argparse.ArgumentParser) -> None:
    add_scene_arguments(parser, frames=40, height=240, width=320, objects=False)


def _write_jhmdb(args: argparse.Namespace) -> str:
    from inovos.synth.jhmdb import write_synth_jhmdb
    from inovos.vos.jhmdb import JhmdbDataset

    root = write_synth_jhmdb(args.out, **_figure_kwargs(args))
    frames = sum(v.num_frames for v in JhmdbDataset(root))
    return f"wrote {args.sequences} JHMDB videos ({frames} frames, 15 joints each) to {root}"


def _vip_arguments(parser: argparse.ArgumentParser) -> None:
    add_scene_arguments(parser, frames=20, height=360, width=480, objects=False)
    parser.add_argument(
        "--people",
        type=int_in(1, 8),
        default=2,
        help="at most this many figures per video, 1..8 (default 2)",
    )


def _write_vip(args: argparse.Namespace) -> str:
    from inovos.synth.vip import write_synth_vip

    root = write_synth_vip(args.out, max_people=args.people, **_figure_kwargs(args))
    frames = args.sequences * args.frames
    return f"wrote {args.sequences} VIP videos ({frames} frames, 20 part classes) to {root}"


def _figure_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = _scene_kwargs(args)
    kwargs.pop("max_objects")
    return kwargs


# Adding a target: write its argument adder and writer, and register it here.
def _videos_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (videos/ and videos.txt)")
    parser.add_argument(
        "--videos", type=int_in(1, 10_000), default=8, help="number of videos, 1..10000 (default 8)"
    )
    parser.add_argument(
        "--seconds",
        type=float_in(0, 3600, low_open=True),
        default=4.0,
        help="seconds per video, at most 3600 (default 4)",
    )
    parser.add_argument(
        "--seed", type=int_in(0, SEED_MAX), default=0, help="random seed; same seed, same bytes"
    )
    parser.add_argument(
        "--sizes", default="96x128,120x160,144x176,72x128", help="HxW list, used in turn"
    )
    parser.add_argument("--fps", default="25,30,24", help="frame-rate list, used in turn")
    parser.add_argument("--codecs", default="h264,mpeg4", help="encoder list, used in turn")
    parser.add_argument("--overwrite", action="store_true", help="replace videos already in OUT")
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )


def _write_videos(args: argparse.Namespace) -> str:
    from inovos.errors import InovosError
    from inovos.synth.videos import write_synth_videos

    try:
        sizes = tuple(
            (int(h), int(w)) for h, w in (s.lower().split("x") for s in args.sizes.split(","))
        )
        fps = tuple(float(f) for f in args.fps.split(","))
    except ValueError:
        raise InovosError(f"bad --sizes {args.sizes!r} or --fps {args.fps!r}") from None
    codecs = tuple(c.strip() for c in args.codecs.split(",") if c.strip())
    list_file = write_synth_videos(
        args.out,
        num_videos=args.videos,
        seconds=args.seconds,
        seed=args.seed,
        sizes=sizes,
        fps=fps,
        codecs=codecs,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    return f"wrote {args.videos} training videos and the list file {list_file}"


TARGETS: dict[str, Target] = {
    "davis": Target("DAVIS-2017 layout", _davis_arguments, _write_davis),
    "ytvos": Target("YouTube-VOS 2018 valid layout", _ytvos_arguments, _write_ytvos),
    "jhmdb": Target(
        "JHMDB keypoint layout (figures with 15 joints)", _jhmdb_arguments, _write_jhmdb
    ),
    "vip": Target("VIP part layout (figures with 20 part classes)", _vip_arguments, _write_vip),
    "videos": Target("training videos (mp4) and a list file", _videos_arguments, _write_videos),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-command per target: `inovos synth davis|ytvos OUT [options]`."""
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, target in TARGETS.items():
        p = sub.add_parser(name, help=target.help, description=target.help)
        target.add_arguments(p)
        p.set_defaults(_synth_write=target.write)


def run(args: argparse.Namespace) -> int:
    """Write the chosen target and print a one-line summary."""
    import shutil
    from pathlib import Path

    start = time.perf_counter()
    out = Path(args.out)
    fresh = not out.exists() or (out.is_dir() and not any(out.iterdir()))
    try:
        summary = args._synth_write(args)
    except BaseException:
        if fresh and out.is_dir():  # a new output folder: leave no half-written data set
            shutil.rmtree(out, ignore_errors=True)
        raise
    print(f"{summary} in {time.perf_counter() - start:.1f} s")
    return 0
