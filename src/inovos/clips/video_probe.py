"""Probing one video for the index: frame timestamps from packets, without decoding."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from inovos.clips.video_sources import KIND_FRAMES, list_frame_files


class VideoProbeError(Exception):
    """A video that cannot be indexed (the message says why)."""


def probe_video_file(path: str) -> tuple[float, np.ndarray, float]:
    """Duration, sorted frame times and average frame rate of a video file (no decoding).

    Returns:
        (duration seconds, pts (n,) float64 seconds, the stream's average frame rate
        (``average_rate``; n / duration when the container has none)).

    Raises:
        VideoProbeError: missing, empty, unreadable, no video stream, or no frames.
    """
    import av  # local import: spawn workers and --help stay light

    if not os.path.isfile(path):
        raise VideoProbeError("file not found")
    if os.path.getsize(path) == 0:
        raise VideoProbeError("empty file")
    try:
        with av.open(path, metadata_errors="ignore") as container:
            if not container.streams.video:
                raise VideoProbeError("no video stream")
            time_base = container.streams.video[0].time_base
            if time_base is None:
                raise VideoProbeError("video stream without a time base")
            stamps, last_duration = _demux_stamps(container)
            average_rate = container.streams.video[0].average_rate
    except VideoProbeError:
        raise
    except Exception as err:  # PyAV raises many types (FFmpegError, ValueError, ...)
        raise VideoProbeError(f"{type(err).__name__}: {err}") from None
    if not stamps:
        raise VideoProbeError("no video frames")
    pts = np.unique(np.asarray(stamps, dtype=np.int64)).astype(np.float64) * float(time_base)
    step = float(last_duration * time_base) if last_duration else _median_step(pts)
    duration = float(pts[-1] - pts[0] + step)
    if average_rate:
        rate = float(average_rate)
    elif duration > 0:
        rate = len(pts) / duration
    else:
        raise VideoProbeError("no frame rate")
    return duration, pts, rate


# Containers whose header frame count is exact (the sample tables of ISO BMFF).
_EXACT_COUNT_FORMATS = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2"}


def _demux_stamps(container: Any) -> tuple[list[int], int]:
    """Timestamps (stream units) of the shown frames, and the last packet's duration.

    Raises:
        VideoProbeError: an mp4/mov holds fewer packets than its header declares.
    """
    stream = container.streams.video[0]
    stamps, last_duration, seen = [], 0, 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        seen += 1
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or packet.is_discard:
            continue
        stamps.append(stamp)
        last_duration = packet.duration or 0
    declared = int(stream.frames or 0)
    exact = bool(_EXACT_COUNT_FORMATS & set(container.format.name.split(",")))
    if exact and 0 < seen < declared:
        raise VideoProbeError(f"truncated: {seen} of {declared} frames")
    return stamps, last_duration


def probe_frame_folder(path: str, frames_fps: float) -> tuple[float, np.ndarray, float]:
    """Duration, frame times and rate of a folder of frames assumed to run at ``frames_fps``."""
    try:
        n = len(list_frame_files(path))
    except OSError as err:
        raise VideoProbeError(f"cannot list frames ({err})") from None
    if n == 0:
        raise VideoProbeError("no frames")
    return n / frames_fps, np.arange(n, dtype=np.float64) / frames_fps, float(frames_fps)


def _median_step(pts: np.ndarray) -> float:
    return float(np.median(np.diff(pts))) if len(pts) > 1 else 0.0


def probe_one(job: tuple[str, str, float]) -> tuple[float, np.ndarray, float] | str:
    """Probe one source; returns (duration, pts, average rate) or the reason it is unusable."""
    path, kind, frames_fps = job
    try:
        if kind == KIND_FRAMES:
            return probe_frame_folder(path, frames_fps)
        return probe_video_file(path)
    except VideoProbeError as err:
        return str(err) or "unreadable"
