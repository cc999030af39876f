"""Write one self-contained HTML page comparing results folders on DAVIS-2017.

The page holds the global J&F table (one row per run), per-sequence J&F bars, loss
curves of a training log (--train-log) and, per sequence, an animation of the ground
truth beside the predictions of one run. Everything is inline (CSS, SVG, images as
data: URIs): open it from disk, mail it, no server or network needed.

Scores are read from the CSVs of `inovos evaluate` in each results folder; a folder
without them, or whose masks changed after they were written, is scored on the fly
(nothing is written into it).

  inovos report runs/ino runs/dino --davis DAVIS --names INO,DINO --train-log log.jsonl
"""

from __future__ import annotations

import argparse

from inovos.cli._options import float_in, int_in

HELP = "write a self-contained HTML report (J&F table, bars, animations, loss curves)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `inovos report`."""
    parser.add_argument(
        "results",
        nargs="+",
        metavar="RESULTS_DIR",
        help="results folder(s) RESULTS_DIR/<sequence>/<frame>.png, one run each",
    )
    parser.add_argument(
        "--davis", required=True, metavar="ROOT", help="DAVIS-2017 root (JPEGImages, Annotations)"
    )
    parser.add_argument("--split", default="val", help="image set (default: val)")
    parser.add_argument(
        "--out", default="report.html", metavar="FILE", help="page to write (default: report.html)"
    )
    parser.add_argument(
        "--names", default=None, metavar="A,B", help="comma-separated run names (default: folders)"
    )
    parser.add_argument(
        "--animate",
        default=None,
        metavar="RUN",
        help="run whose predictions are animated (default: first)",
    )
    parser.add_argument(
        "--train-log", default=None, metavar="LOG", help="JSON-lines training log to plot"
    )
    parser.add_argument(
        "--max-frames",
        type=int_in(1, 1000),
        default=40,
        metavar="N",
        help="frames per animation, 1..1000 (default 40)",
    )
    parser.add_argument(
        "--width",
        type=int_in(16, 4096),
        default=320,
        metavar="PX",
        help="width of each animation panel, 16..4096 (default 320)",
    )
    parser.add_argument(
        "--fps",
        type=float_in(0, 100, low_open=True),
        default=8.0,
        help="animation speed in frames per second, at most 100 (default 8)",
    )
    parser.add_argument(
        "--format",
        choices=("webp", "gif"),
        default=None,
        help="animation format (default: webp if Pillow supports it, else gif; "
        "gif is several times larger)",
    )
    parser.add_argument(
        "--quality",
        type=int_in(1, 100),
        default=70,
        metavar="Q",
        help="WebP quality 1..100 (default 70)",
    )
    parser.add_argument(
        "--processes",
        type=int_in(1, 1024),
        default=None,
        metavar="N",
        help="evaluator processes for folders without CSVs (default: all cores)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Build and write the report; 0 on success."""
    from inovos.errors import InovosError
    from inovos.report.animation import AnimationOptions, default_format
    from inovos.report.build import build_report

    try:
        options = AnimationOptions(
            max_frames=args.max_frames,
            width=args.width,
            fps=args.fps,
            image_format=args.format or default_format(),
            quality=args.quality,
        )
    except ValueError as err:
        raise InovosError(f"animation options: {err}") from None
    out = build_report(
        args.results,
        args.davis,
        args.out,
        split=args.split,
        names=None if args.names is None else args.names.split(","),
        animate=args.animate,
        train_log=args.train_log,
        animation=options,
        processes=args.processes,
        progress=not args.no_progress,
    )
    size = out.stat().st_size
    print(f"wrote {out} ({size / 1e6:.1f} MB)")
    return 0
