"""Segment the objects of a first-frame mask through your own video.

VIDEO is a video file (mp4, avi, mkv, webm, mov, ... anything FFmpeg/PyAV decodes)
or a folder of frames (.jpg/.jpeg/.png, natural order). --mask is a palette or
grayscale PNG of object ids for the first frame, of the video's size (0 background;
a black-and-white 0/255 mask is one object). Frames are decoded one after the other
and streamed through, so long videos never sit in memory.

Outputs in OUT: <frame>.png palette masks (frames 00000, 00001, ... for a video
file; the frame files' names for a folder), overlay.mp4 (the masks drawn over the
video, H.264 when available) unless --no-video, and overlay.gif with --gif.
Objects keep the mask's ids and their DAVIS palette colours. Frames are resized so
their short side is 480 pixels (the ino-davis protocol), except that videos smaller
than that keep their native size (never upscaled); --short-side sets the size.
OUT/run.json records the model, the protocol and the timings.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from inovos.cli._options import float_in, int_in
from inovos.cli.propagate import (
    add_model_arguments,
    add_protocol_arguments,
    build_model_and_options,
    resolve_params,
    run_settings,
)

HELP = "segment first-frame objects through a video file or frame folder (masks, overlay video)"

DEFAULT_PRESET = "ino-davis"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `inovos track`."""
    parser.add_argument("video", metavar="VIDEO", help="video file or folder of frames")
    parser.add_argument(
        "--mask", required=True, metavar="FIRST.png", help="object ids of the first frame"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--max-frames", type=int_in(1), metavar="N", help="only the first N frames of the video"
    )
    out = parser.add_argument_group("outputs")
    out.add_argument("--no-video", action="store_true", help="do not write overlay.mp4")
    out.add_argument("--gif", action="store_true", help="also write a downscaled overlay.gif")
    out.add_argument(
        "--gif-frames",
        type=int_in(2, 10_000),
        default=100,
        metavar="N",
        help="most GIF frames, 2..10000 (default 100)",
    )
    out.add_argument(
        "--gif-width",
        type=int_in(8, 4096),
        default=320,
        metavar="PX",
        help="GIF width, 8..4096 (default 320)",
    )
    out.add_argument(
        "--fps",
        type=float_in(0, 1000, low_open=True),
        help="frame rate of the outputs (default: the video's, 25 for frames)",
    )
    out.add_argument("--contours", action="store_true", help="outline objects in the overlays")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(parser)
    add_protocol_arguments(parser, default_preset=DEFAULT_PRESET)


def _render(frame: Any, labels: Any, sinks: list[Any], contours: bool) -> None:
    """Draw one overlay and hand it to the video / GIF writers (in frame order)."""
    from inovos.formats.overlay import overlay

    picture = overlay(frame, labels, contours=contours)
    for sink in sinks:
        sink(picture)


def _open_sinks(args: argparse.Namespace, out: Path, fps: Any, total: int, stack: Any) -> dict:
    """The overlay video and GIF writers asked for, entered on ``stack``."""
    from inovos.report.video import GifWriter, OverlayVideoWriter

    sinks: dict[str, Any] = {}
    if not args.no_video:
        sinks["video"] = stack.enter_context(OverlayVideoWriter(out / "overlay.mp4", fps))
    if args.gif:
        gif = GifWriter(out / "overlay.gif", fps, args.gif_frames, args.gif_width, total=total)
        sinks["gif"] = stack.enter_context(gif)
    return sinks


def _summary(seq: Any, out: Path, frames: int, seconds: float, sinks: dict) -> str:
    rate = f"{frames / seconds:.2f} frames/s" if seconds > 0 else "-"
    ids = ", ".join(str(k) for k in seq.object_ids)
    names = seq.frame_names
    lines = [
        f"tracked {len(seq.object_ids)} object(s) (ids {ids}) through {frames} frames "
        f"in {seconds:.1f} s ({rate})",
        f"masks: {out / names[0]}.png ... {out / names[frames - 1]}.png ({frames} files)",
    ]
    if "video" in sinks:
        v = sinks["video"]
        h, w = v.encoded_size or (0, 0)
        lines.append(f"video: {v.path} ({v.codec}, {w}x{h}, {float(v.rate):.3g} fps)")
    if "gif" in sinks:
        lines.append(f"gif: {sinks['gif'].path}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Segment, write masks and overlays, print a summary."""
    import time

    from inovos.api import open_video
    from inovos.segment.outdir import removed_on_failure

    seq = open_video(Path(args.video), Path(args.mask), args.max_frames)
    out = Path(args.out)
    with removed_on_failure(out):
        result, sinks, start = _track(args, seq, out)
    seconds = time.perf_counter() - start
    print(_summary(seq, out, result.frames, seconds, sinks))
    return 0


def _track(args: argparse.Namespace, seq: Any, out: Path) -> tuple[Any, dict, float]:
    """Write the masks, overlays and run record of one video: (result, sinks, start time)."""
    import time
    from contextlib import ExitStack

    from tqdm import tqdm

    from inovos.records import add_sequence, open_record
    from inovos.segment.background import BackgroundWriter
    from inovos.segment.runner import ensure_writable, segment_sequence
    from inovos.vos.video_file import DEFAULT_FPS

    ensure_writable(out)
    params = resolve_params(args, DEFAULT_PRESET)
    if args.short_side is None and params.short_side and min(seq.frame_size) < params.short_side:
        params = dataclasses.replace(params, short_side=None)  # native size: never upscale
    model, options = build_model_and_options(args, params)
    data = {"video": str(Path(args.video).resolve()), "mask": str(Path(args.mask).resolve())}
    run = run_settings(args, model, options.params, options, {"preset": DEFAULT_PRESET, **data})
    open_record(out, run.settings, run.data, [seq.name], overwrite=True, unrecorded=[])
    fps = args.fps or getattr(seq, "fps", None) or DEFAULT_FPS
    start = time.perf_counter()
    with ExitStack() as stack:
        if hasattr(seq, "close"):
            stack.callback(seq.close)  # the open video file, also on errors
        sinks = _open_sinks(args, out, fps, seq.num_frames, stack)
        writers = [s.write if k == "video" else s.add for k, s in sinks.items()]
        # one worker: overlays are drawn and encoded in frame order, beside propagation
        background = stack.enter_context(BackgroundWriter(workers=1, max_pending=8))
        bar = stack.enter_context(
            tqdm(total=seq.num_frames, unit="frame", disable=args.no_progress, dynamic_ncols=True)
        )

        def on_frame(i: int, frame: Any, labels: Any) -> None:
            if writers:
                background.submit(_render, frame, labels, writers, args.contours)
            bar.update()

        result = segment_sequence(model, seq, out, options, on_frame=on_frame)
    add_sequence(out, seq.name, result.entry)
    return result, sinks, start
