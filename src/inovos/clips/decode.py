"""Reading the frames of one clip: PyAV for video files, PIL for frame folders."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from inovos.clips.video_sources import KIND_FRAMES, list_frame_files

_TOL = 1e-3  # seconds: a decoded frame this close to a wanted time is that frame


class DecodeError(Exception):
    """A clip that cannot be read (the message says why)."""


def read_clip(
    path: str, kind: str, pts: np.ndarray, indices: np.ndarray, *, threads: int = 2
) -> np.ndarray:
    """The frames ``indices`` of a video as RGB.

    Args:
        path: video file or frame folder.
        kind: ``"video"`` or ``"frames"``.
        pts: (n,) frame times of the video in seconds (from the index).
        indices: (T,) source frame indices (may repeat).
        threads: decoder threads for video files.

    Returns:
        (T, H, W, 3) uint8.

    Raises:
        DecodeError: the frames cannot be read.
    """
    if kind == KIND_FRAMES:
        return read_folder_frames(path, indices)
    return decode_video_frames(path, pts[np.asarray(indices)], threads=threads)


def decode_video_frames(path: str, times: np.ndarray, *, threads: int = 2) -> np.ndarray:
    """Decode the frames shown at ``times`` (seconds, ascending) from a video file.

    Seeks to the keyframe at or before the first time, decodes forward (frame-threaded)
    and takes, for each wanted time, the decoded frame with the nearest timestamp.

    Returns:
        (T, H, W, 3) uint8.

    Raises:
        DecodeError: the file cannot be opened or decodes no frame near the times.
    """
    import av

    times = np.asarray(times, dtype=np.float64)
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = max(1, threads)
            candidates = _decode_window(container, stream, times, seek=True)
            if not candidates or candidates[0][0] > times[0] + _TOL:
                candidates = _decode_window(container, stream, times, seek=False)
            if not candidates:
                raise DecodeError("no frame decoded near the clip")
            stamps = np.array([c[0] for c in candidates])
            picks = np.abs(stamps[None, :] - times[:, None]).argmin(axis=1)
            frames = [candidates[int(i)][1].to_ndarray(format="rgb24") for i in picks]
    except DecodeError:
        raise
    except Exception as err:  # PyAV raises many types (FFmpegError, ValueError, ...)
        raise DecodeError(f"{type(err).__name__}: {err}") from None
    return np.stack(frames)


def _decode_window(container: Any, stream: Any, times: np.ndarray, *, seek: bool) -> list:
    """(time, frame) pairs from just before ``times[0]`` up to ``times[-1]``."""
    first, last = float(times[0]) - _TOL, float(times[-1]) + _TOL
    time_base = stream.time_base
    offset = int(np.floor(float(times[0]) / float(time_base))) if seek else 0
    container.seek(offset, stream=stream, backward=True, any_frame=False)
    kept: list = []
    before = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        t = float(frame.pts * time_base)
        if t < first:
            before = (t, frame)
            continue
        if t > last:
            break
        kept.append((t, frame))
    if before is not None and (not kept or kept[0][0] > float(times[0])):
        kept.insert(0, before)
    return kept


@lru_cache(maxsize=4096)
def _frame_names(folder: str) -> tuple[str, ...]:
    return tuple(list_frame_files(folder))


def read_folder_frames(folder: str, indices: np.ndarray) -> np.ndarray:
    """Frames ``indices`` of a frame folder (natural name order) as (T, H, W, 3) uint8."""
    try:
        names = _frame_names(folder)
        frames = []
        for i in np.asarray(indices).tolist():
            with Image.open(os.path.join(folder, names[i])) as image:
                frames.append(np.asarray(image.convert("RGB")))
        return np.stack(frames)
    except (OSError, IndexError, ValueError) as err:
        raise DecodeError(f"{type(err).__name__}: {err}") from None
