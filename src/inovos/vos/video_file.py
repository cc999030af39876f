"""A video FILE (mp4/avi/mkv/webm/mov...) plus a first-frame mask, decoded lazily with PyAV.

``VideoFileSequence`` is a ``VideoSequence`` whose ``frame(i)`` decodes from one open
container kept across calls: asking for frames in increasing order (what the
segmentation runner does) decodes each packet once, whatever the video's length.
Asking for an earlier frame re-opens the file and seeks to the keyframe before it.
Only the frame count and size are read up front (stream metadata; one demux pass,
no decoding, when the container does not store the count).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from inovos.errors import InovosError
from inovos.formats.mask_colours import read_mask
from inovos.formats.palette import VOID_ID
from inovos.vos.sequence import (
    VideoSequence,
    check_frame_index,
    object_ids_in,
    read_given_mask,
)

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".avi", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".wmv")
DEFAULT_FPS = 25.0
_SEEK_AHEAD = 64  # frames: jump further ahead than this to a known frame by seeking


def frame_name(i: int, num_frames: int) -> str:
    """Zero-padded frame name: 00000, 00001, ... (more digits past 99999 frames)."""
    return f"{i:0{max(5, len(str(num_frames - 1)))}d}"


def read_first_mask(mask_path: Path, frame_size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """Read and check a first-frame mask.

    Returns:
        (labels (H, W) uint8, binary) where ``binary`` means a 0/255 mask whose 255 pixels
        are read as object 1.

    Raises:
        InovosError: missing or unreadable mask, another size than the frames, no object.
    """
    if not mask_path.is_file():
        raise InovosError(f"{mask_path}: first-frame mask not found")
    labels = read_mask(mask_path)
    if labels.shape != tuple(frame_size):
        raise InovosError(
            f"{mask_path}: mask is {labels.shape[0]}x{labels.shape[1]} (HxW) but the video's "
            f"frames are {frame_size[0]}x{frame_size[1]}"
        )
    binary = not object_ids_in(labels) and bool((labels == VOID_ID).any())
    if binary:
        logger.info("%s: binary 0/255 mask, reading 255 as object 1", mask_path)
        labels = np.where(labels == VOID_ID, 1, labels).astype(np.uint8)
    if not object_ids_in(labels):
        raise InovosError(f"{mask_path}: the mask contains no object (all pixels 0)")
    return labels, binary


def _open(path: Path) -> tuple[Any, Any]:
    """(container, first video stream) of a file PyAV can demux."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as err:  # PyAV raises many types (InvalidDataError, OSError, ...)
        raise InovosError(f"{path}: cannot decode video ({type(err).__name__}: {err})") from None
    if not container.streams.video:
        container.close()
        raise InovosError(f"{path}: cannot decode video (the file has no video stream)")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _count_frames(path: Path, limit: int | None) -> int:
    """Video frames from the stream metadata, else from one demux pass (no decoding)."""
    container, stream = _open(path)
    try:
        n = int(stream.frames or 0)
        if n > 0:
            return n if limit is None else min(n, limit)
        logger.info("%s: no frame count in the container; counting packets", path)
        for packet in container.demux(stream):
            if packet.size > 0:
                n += 1
                if limit is not None and n >= limit:
                    break
        return n
    except Exception as err:
        raise InovosError(f"{path}: cannot decode video ({type(err).__name__}: {err})") from None
    finally:
        container.close()


class VideoFileSequence:
    """The frames of one video file and a first-frame mask of object ids (a `VideoSequence`).

    Frames are named 00000, 00001, ... (all are outputs). The mask is a palette or
    grayscale PNG (0 background, 255 void) of the video's frame size; a binary 0/255
    mask is read as one object with id 1. Use as a context manager (or call ``close``)
    to release the open file early; it is also closed after the last frame is read.

    Args:
        video_path: the video file.
        mask_path: first-frame mask PNG.
        name: sequence name; defaults to the file's stem.
        max_frames: keep only the first ``max_frames`` frames.

    Attributes:
        name, frame_size, num_frames, frame_names, object_ids, first_frame_of,
            output_frames: as in `VideoSequence`.
        fps: the container's average (else guessed) frame rate.

    Raises:
        InovosError: missing or undecodable file, no frames, a mask that is missing,
            of another size than the frames, or without any object.
    """

    def __init__(
        self,
        video_path: str | Path,
        mask_path: str | Path,
        name: str | None = None,
        max_frames: int | None = None,
    ) -> None:
        video, mask_file = Path(video_path), Path(mask_path)
        if not video.is_file():
            what = "is not a file" if video.exists() else "not found"
            raise InovosError(f"{video}: video file {what}")
        if max_frames is not None and max_frames < 1:
            raise InovosError(f"max_frames must be at least 1, got {max_frames}")
        self._video_path = video
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        try:
            first = self._restart(0, from_start=True)  # opens the file, decodes frame 0
            stream = self._state["stream"]
            self.fps = Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
        except BaseException:
            self.close()
            raise
        size = (int(first.shape[0]), int(first.shape[1]))
        n = max(1, _count_frames(video, max_frames))
        self._state["expected"] = n
        labels, self._binary_mask = read_first_mask(mask_file, size)
        self._mask_path = mask_file
        self.name = name or video.stem
        self.frame_size = size
        self.num_frames = n
        self.frame_names = tuple(frame_name(i, n) for i in range(n))
        self.output_frames = self.frame_names
        self.object_ids = object_ids_in(labels)
        self.first_frame_of = dict.fromkeys(self.object_ids, 0)
        self._state["pending"] = (0, first)
        logger.info(
            "%s: %d frames of %dx%d at %.3g fps", video, n, size[1], size[0], float(self.fps)
        )

    # -- frames ---------------------------------------------------------------------

    def frame(self, i: int) -> np.ndarray:
        """Frame i, decoded now: (H, W, 3) uint8 RGB (fast for i = previous + 1)."""
        i = check_frame_index(self, i)
        with self._lock:
            state = self._state
            pending = state.get("pending")
            if pending is not None and pending[0] == i:
                state["pending"] = None
                rgb = pending[1]
            else:
                nxt = state.get("next", 0)
                far = i - nxt > _SEEK_AHEAD and i < len(state.get("pts", ()))
                if state.get("container") is None or i < nxt or far:
                    rgb = self._restart(i, from_start=False)
                else:
                    rgb = self._decode_up_to(i)
            if i == self.num_frames - 1:
                self._close_container()
        return rgb

    def annotation(self, i: int) -> np.ndarray | None:
        """The mask for frame 0 ((H, W) uint8 ids; 0/255 masks become 0/1), else None."""
        if check_frame_index(self, i) != 0:
            return None
        return read_given_mask(self._mask_path, self.frame_size, self._binary_mask)

    def ground_truth(self, i: int) -> np.ndarray | None:
        """None: a user's video comes without ground truth."""
        check_frame_index(self, i)
        return None

    def close(self) -> None:
        """Release the open file (it is re-opened if a frame is asked for again)."""
        with self._lock:
            self._close_container()

    def __enter__(self) -> VideoFileSequence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- decoding -------------------------------------------------------------------

    def _frames(self) -> Generator[Any, None, None]:
        """Decoded frames of the open container, from its current position."""
        container, stream = self._state["container"], self._state["stream"]
        for packet in container.demux(stream):
            yield from packet.decode()

    def _to_rgb(self, frame: Any) -> np.ndarray:
        size = self._state.get("size")
        if size is None:
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(format="rgb24", width=size[1], height=size[0])

    def _decode_up_to(self, i: int) -> np.ndarray:
        """Decode forward from the next expected frame to frame i (i >= next)."""
        state = self._state
        it = state.get("iter")
        if it is None:
            it = state["iter"] = self._frames()
        pts: list[int | None] = state.setdefault("pts", [])
        last = state.get("last")
        try:
            while state.get("next", 0) <= i:
                frame = next(it, None)
                if frame is None:  # fewer frames than the metadata said: never make one up
                    raise self._ended_early(state.get("next", 0))
                k = state.get("next", 0)
                if k == len(pts):
                    pts.append(frame.pts)
                state["next"] = k + 1
                if k == i:
                    last = self._to_rgb(frame)
                    state["size"] = state.get("size") or last.shape[:2]
        except InovosError:
            raise
        except Exception as err:  # corrupt data mid-stream
            raise InovosError(
                f"{self._video_path}: cannot decode video at frame {i} ({type(err).__name__}: {err})"
            ) from None
        state["last"] = last
        return np.array(last, copy=True)

    def _ended_early(self, decoded: int) -> InovosError:
        """The error for a file whose frames stop before the count its header announces."""
        if decoded == 0:
            return InovosError(f"{self._video_path}: cannot decode video (no frame)")
        expected = self._state.get("expected", "?")
        return InovosError(
            f"{self._video_path}: only the first {decoded} of the {expected} frames the file "
            f"announces can be decoded (truncated or damaged file); --max-frames {decoded} "
            "segments those"
        )

    def _restart(self, i: int, *, from_start: bool) -> np.ndarray:
        """Re-open the file and land on frame i: seek by its known timestamp, or decode from 0."""
        self._close_container()
        container, stream = _open(self._video_path)
        state = self._state
        state.update(container=container, stream=stream, iter=None, next=0, last=None)
        pts: list[int | None] = state.setdefault("pts", [])
        target = pts[i] if (not from_start and i < len(pts)) else None
        if target is not None and self._seek_to(i, target):
            return np.array(state["last"], copy=True)
        return self._decode_up_to(i)

    def _seek_to(self, i: int, target: int) -> bool:
        """Seek to the keyframe before timestamp ``target`` and decode up to it (frame i)."""
        state = self._state
        it = self._frames()
        try:
            state["container"].seek(target, stream=state["stream"], backward=True)
            for frame in it:
                if frame.pts is None or frame.pts > target:
                    break
                if frame.pts == target:
                    state.update(iter=it, next=i + 1, last=self._to_rgb(frame))
                    return True
        except Exception as err:  # seeking is best effort: decode from the start instead
            logger.debug("%s: seek failed (%s); decoding from the start", self._video_path, err)
        it.close()  # before its container
        self._close_container()
        container, stream = _open(self._video_path)
        state.update(container=container, stream=stream, iter=None, next=0, last=None)
        return False

    def _close_container(self) -> None:
        state = self._state
        container, it = state.get("container"), state.get("iter")
        state.update(container=None, stream=None, iter=None)
        if it is not None:
            it.close()  # the generator must not outlive its container
        if container is not None:
            container.close()


class _HeadSequence:
    """The first ``n`` frames of another sequence (a `VideoSequence`); pixels and labels
    come from it."""

    def __init__(self, source: VideoSequence, n: int) -> None:
        ids = tuple(k for k in source.object_ids if source.first_frame_of[k] < n)
        if not ids:
            raise InovosError(f"{source.name}: no object is annotated in the first {n} frames")
        self._source = source
        self.name = source.name
        self.frame_size = source.frame_size
        self.num_frames = n
        self.frame_names = source.frame_names[:n]
        self.object_ids = ids
        self.first_frame_of = {k: source.first_frame_of[k] for k in ids}
        kept = set(self.frame_names)
        self.output_frames = tuple(f for f in source.output_frames if f in kept)

    def frame(self, i: int) -> np.ndarray:
        """Frame i of the source: (H, W, 3) uint8 RGB."""
        return self._source.frame(check_frame_index(self, i))

    def annotation(self, i: int) -> np.ndarray | None:
        """The source's annotation of frame i ((H, W) uint8 ids), or None."""
        return self._source.annotation(check_frame_index(self, i))

    def ground_truth(self, i: int) -> np.ndarray | None:
        """The source's ground truth of frame i ((H, W) uint8 ids), or None."""
        return self._source.ground_truth(check_frame_index(self, i))


def first_frames(seq: VideoSequence, n: int | None) -> VideoSequence:
    """``seq`` cut to its first ``n`` frames (``seq`` itself when n is None or not shorter).

    Raises:
        InovosError: n < 1, or no object is annotated within the first n frames.
    """
    if n is None or n >= seq.num_frames:
        return seq
    if n < 1:
        raise InovosError(f"the number of frames must be at least 1, got {n}")
    return _HeadSequence(seq, n)
