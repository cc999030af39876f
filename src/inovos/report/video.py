"""Overlay videos and GIFs written frame by frame, so a long video never sits in memory.

``OverlayVideoWriter`` encodes (H, W, 3) RGB frames to an mp4 as they come (H.264
through PyAV's libx264 where the installed wheel has it, else MPEG-4 part 2).
``GifWriter`` keeps at most ``max_frames`` downscaled frames (every k-th, k doubling
whenever the budget would be exceeded) and writes the GIF on close.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inovos.atomic import atomic_open, atomic_path
from inovos.errors import InovosError
from inovos.formats.video import muxer_for
from inovos.report.animation import fit_size

logger = logging.getLogger(__name__)

VIDEO_CODECS = ("libx264", "h264", "mpeg4")
EVEN_MODES = ("pad", "crop")


def available_encoder(preferred: tuple[str, ...] = VIDEO_CODECS) -> str:
    """The first codec of ``preferred`` that the installed PyAV can encode with.

    Raises:
        InovosError: none of them is available.
    """
    from av.codec import Codec

    for name in preferred:
        try:
            Codec(name, "w")
        except Exception:  # unknown codec: try the next one
            continue
        return name
    raise InovosError(f"this PyAV build has none of the video encoders {', '.join(preferred)}")


def even_size(height: int, width: int, mode: str = "pad") -> tuple[int, int]:
    """(H, W) made even for yuv420p: one pixel added (``pad``) or removed (``crop``)."""
    if mode not in EVEN_MODES:
        raise ValueError(f"mode must be one of {EVEN_MODES}, got {mode!r}")
    step = 1 if mode == "pad" else -1
    return height + (height % 2) * step, width + (width % 2) * step


def make_even(frame: np.ndarray, mode: str = "pad") -> np.ndarray:
    """(H, W, 3) -> (H', W', 3) with even sides: edge pixels repeated or the last row/column cut."""
    h, w = frame.shape[:2]
    eh, ew = even_size(h, w, mode)
    if (eh, ew) == (h, w):
        return frame
    if mode == "crop":
        return frame[:eh, :ew]
    return np.pad(frame, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")


def to_fraction(fps: float | Fraction) -> Fraction:
    """A frame rate as a fraction (29.97 -> 2997/100), positive."""
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise InovosError(f"frame rate must be positive, got {fps}")
    return rate


class OverlayVideoWriter:
    """Encode RGB frames one at a time into an mp4 (yuv420p).

    Frames must all have the size of the first one. Odd sides are padded by one
    pixel (edge repeated) or, with ``even="crop"``, cropped by one pixel. The video is
    encoded into a hidden sibling file that replaces ``path`` when the writer closes
    normally; an error (a full disk, or one raised in the ``with`` block) removes it, so
    a half-written video is never left.

    Args:
        path: the output file (``.mp4``).
        fps: frames per second.
        codec: encoder name, or None for the best available (``available_encoder``).
        even: "pad" or "crop", how odd frame sides are made even.
        crf: libx264 quality (lower is better; 18-28 is usual).

    Raises:
        InovosError: the file cannot be created or the encoder is missing.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        codec: str | None = None,
        even: str = "pad",
        crf: int = 20,
    ) -> None:
        if even not in EVEN_MODES:
            raise ValueError(f"even must be one of {EVEN_MODES}, got {even!r}")
        self.path = Path(path)
        self.rate = to_fraction(fps)
        self.codec = codec or available_encoder()
        self.even = even
        self.crf = crf
        self.frames_written = 0
        self.encoded_size: tuple[int, int] | None = None
        self._container: Any = None
        self._stream: Any = None
        self._file: AbstractContextManager[Path] | None = None  # the atomic write in progress

    def __enter__(self) -> OverlayVideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def _failed(self, err: Exception) -> InovosError:
        self.discard()
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return InovosError(f"cannot write {self.path}: {reason}")

    def _start(self, height: int, width: int) -> None:
        import av

        eh, ew = even_size(height, width, self.even)
        if (eh, ew) != (height, width):
            done = "padded" if self.even == "pad" else "cropped"
            logger.info(
                "%s: frames are %dx%d (WxH); %s by one pixel to %dx%d for yuv420p",
                self.path,
                width,
                height,
                done,
                ew,
                eh,
            )
        self._file = atomic_path(self.path)
        tmp = self._file.__enter__()
        try:
            self._container = av.open(str(tmp), mode="w", format=muxer_for(self.path))
        except Exception as err:
            raise self._failed(err) from None
        stream = self._container.add_stream(self.codec, rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = ew, eh, "yuv420p"
        if self.codec in ("libx264", "h264"):
            stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        else:  # MPEG-4 part 2: a bit rate that keeps detail at this size
            stream.bit_rate = int(max(400_000, ew * eh * float(self.rate) * 0.2))
        stream.codec_context.time_base = Fraction(1) / self.rate
        self._stream = stream
        self.encoded_size = (eh, ew)

    def write(self, frame: np.ndarray) -> None:
        """Encode one frame: (H, W, 3) uint8 RGB."""
        import av

        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"need an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
        if self._stream is None:
            self._start(frame.shape[0], frame.shape[1])
        rgb = np.ascontiguousarray(make_even(frame, self.even))
        if rgb.shape[:2] != self.encoded_size:
            raise ValueError(f"frame size {frame.shape[:2]} differs from the first frame's")
        picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        picture.pts = self.frames_written
        picture.time_base = self._stream.codec_context.time_base
        try:
            self._container.mux(self._stream.encode(picture))
        except Exception as err:  # a full disk, an encoder failure
            raise self._failed(err) from None
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file into place (none if no frame came)."""
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
        except Exception as err:
            raise self._failed(err) from None
        self._container = self._stream = None
        file, self._file = self._file, None
        if file is not None:
            file.__exit__(None, None, None)  # moves the finished video into place

    def discard(self) -> None:
        """Stop without writing: close the encoder and remove the unfinished file."""
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            try:
                container.close()
            except Exception:  # already failing: the file is removed anyway
                logger.debug("%s: error while abandoning the video", self.path, exc_info=True)
        file, self._file = self._file, None
        if file is not None:
            stop = InovosError(f"{self.path}: abandoned")
            file.__exit__(InovosError, stop, None)  # removes the unfinished file


class GifWriter:
    """Collect a bounded number of downscaled frames and write an animated GIF on close.

    Every ``step``-th frame is kept (``step`` starts at 1); when more than
    ``max_frames`` are kept, every other one is dropped and ``step`` doubles, so the
    kept frames stay evenly spaced and memory stays bounded for any video length.
    Each frame is shown for ``step / fps`` seconds, so the GIF plays at real speed.

    Args:
        path: the output ``.gif``.
        fps: frame rate of the source.
        max_frames: most frames kept.
        width: width of the GIF in pixels (frames are never enlarged).
        total: the number of frames to come, when known: the first ``step`` is then
            ``ceil(total / max_frames)`` so that close to ``max_frames`` are kept.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        max_frames: int = 100,
        width: int = 320,
        total: int | None = None,
    ) -> None:
        if max_frames < 2:
            raise ValueError(f"max_frames must be at least 2, got {max_frames}")
        self.path = Path(path)
        self.fps = float(fps)
        self.max_frames = max_frames
        self.width = width
        self.step = 1 if not total else max(1, -(-total // max_frames))
        self.seen = 0
        self.kept: list[Image.Image] = []

    def __enter__(self) -> GifWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()

    def add(self, frame: np.ndarray) -> None:
        """Offer the next frame, (H, W, 3) uint8 RGB; kept when its index is a multiple of step."""
        index, self.seen = self.seen, self.seen + 1
        if index % self.step:
            return
        h, w = fit_size(frame.shape[:2], self.width)
        image = Image.fromarray(np.ascontiguousarray(frame))
        if (h, w) != frame.shape[:2]:
            image = image.resize((w, h), Image.Resampling.BILINEAR)
        self.kept.append(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=256))
        if len(self.kept) > self.max_frames:
            self.kept = self.kept[::2]
            self.step *= 2

    def close(self) -> None:
        """Write the GIF (looping) if any frame was kept."""
        if not self.kept:
            return
        duration = max(20, round(1000 * self.step / self.fps))
        first, *rest = self.kept
        with atomic_open(self.path) as f:
            first.save(
                f,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=duration,
                loop=0,
                optimize=False,
            )
        self.kept = []
