"""Video containers: the FFmpeg muxer for a file name.

Files are written under a temporary name (see ``inovos.atomic``), so the muxer
cannot be inferred from the name FFmpeg sees and is passed explicitly.
"""

from __future__ import annotations

from pathlib import Path

# container of each file name ending other than .mp4
CONTAINERS = {".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov"}


def muxer_for(path: str | Path) -> str:
    """The FFmpeg muxer for ``path``'s ending (``mp4`` for .mp4 and unknown endings)."""
    return CONTAINERS.get(Path(path).suffix.lower(), "mp4")


__all__ = ["CONTAINERS", "muxer_for"]
