"""Where training videos come from: a list file, a folder of videos, or folders of frames.

A *source* is one training video: either a video file (mp4/avi/mkv/webm/mov) or a
folder holding the video's frames as jpg/png images (one image per frame, in natural
name order, at an assumed frame rate).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from inovos.errors import InovosError
from inovos.formats.images import FRAME_EXTENSIONS, natural_key

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")

KIND_VIDEO = "video"
KIND_FRAMES = "frames"


@dataclass(frozen=True)
class VideoSource:
    """One training video.

    Attributes:
        path: absolute path of the video file or of the frame folder.
        kind: ``"video"`` (a file PyAV opens) or ``"frames"`` (a folder of images).
    """

    path: str
    kind: str


def read_list_file(list_file: Path, root: Path | None = None) -> list[VideoSource]:
    """Parse a Charades/Kinetics-style list: one path per line, first comma-separated field.

    Blank lines and lines starting with ``#`` are ignored. Relative paths are resolved
    against ``root`` when given, else against the list file's folder. A name without an
    extension that does not exist as such gets the first video extension that exists
    (Charades CSV ids with ``root`` = the video folder). Paths that do not exist are
    kept (they are reported and skipped when the index is built).

    Raises:
        InovosError: the list file cannot be read.
    """
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InovosError(f"{list_file}: cannot read video list ({err})") from None
    base = root if root is not None else list_file.parent
    sources = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split(",", 1)[0].strip()
        if not name:
            continue
        path = Path(name).expanduser()
        path = path if path.is_absolute() else base / path
        path = _with_existing_extension(path)
        kind = KIND_FRAMES if path.is_dir() else KIND_VIDEO
        sources.append(VideoSource(str(path.absolute()), kind))
    return sources


def _with_existing_extension(path: Path) -> Path:
    if path.suffix or path.exists():
        return path
    for ext in VIDEO_EXTENSIONS:
        candidate = path.with_name(path.name + ext)
        if candidate.is_file():
            return candidate
    return path


def scan_folder(folder: Path) -> list[VideoSource]:
    """Every video file under ``folder`` (recursive) and every folder that holds frames.

    A folder that directly contains jpg/png files is one frame video. Results are in a
    deterministic order (natural sort of the relative path).
    """
    sources = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort(key=natural_key)
        has_frames = False
        for name in filenames:
            suffix = os.path.splitext(name)[1].lower()
            if suffix in VIDEO_EXTENSIONS:
                sources.append(VideoSource(os.path.join(dirpath, name), KIND_VIDEO))
            elif suffix in FRAME_EXTENSIONS:
                has_frames = True
        if has_frames:
            sources.append(VideoSource(dirpath, KIND_FRAMES))
    base = str(folder)
    sources.sort(key=lambda s: natural_key(os.path.relpath(s.path, base)))
    return [VideoSource(str(Path(s.path).absolute()), s.kind) for s in sources]


def list_video_sources(source: str | Path, root: str | Path | None = None) -> list[VideoSource]:
    """The training videos named by ``source`` (a list file or a folder).

    Args:
        source: a list file (one path per line), a folder of videos (recursive), a
            folder of frame folders, or one video file.
        root: prefix for relative paths in a list file (default: the list file's folder).

    Raises:
        InovosError: ``source`` does not exist, or names no video at all.
    """
    src = Path(source).expanduser()
    if src.is_dir():
        sources = scan_folder(src)
    elif src.is_file() and src.suffix.lower() in VIDEO_EXTENSIONS:
        sources = [VideoSource(str(src.absolute()), KIND_VIDEO)]
    elif src.is_file():
        sources = read_list_file(src, Path(root).expanduser() if root else None)
    else:
        raise InovosError(f"{src}: video source not found (expected a list file or a folder)")
    if not sources:
        raise InovosError(f"{src}: no videos found (mp4/avi/mkv/webm/mov or frame folders)")
    return sources


def list_frame_files(folder: str | Path) -> list[str]:
    """The frame images of a frame folder, naturally sorted (file names only)."""
    names = [n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in FRAME_EXTENSIONS]
    return sorted(names, key=natural_key)


def source_signature(src: VideoSource) -> tuple[int, int]:
    """(size, mtime_ns) of a video file; (number of frames, mtime_ns) of a frame folder.

    A missing or unreadable path gives (-1, -1), so the key still changes when it appears.
    """
    try:
        if src.kind == KIND_FRAMES:
            return len(list_frame_files(src.path)), os.stat(src.path).st_mtime_ns
        st = os.stat(src.path)
        return st.st_size, st.st_mtime_ns
    except OSError:
        return -1, -1


def index_cache_key(
    sources: list[VideoSource], *, fps: float, clip_len: int, frames_fps: float, version: int
) -> str:
    """SHA-256 over the video list (paths, kinds, sizes, mtimes) and the clip settings."""
    digest = hashlib.sha256()
    header = {"version": version, "fps": fps, "clip_len": clip_len, "frames_fps": frames_fps}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for src in sources:
        size, mtime = source_signature(src)
        digest.update(f"\n{src.kind}\t{size}\t{mtime}\t{src.path}".encode())
    return digest.hexdigest()
