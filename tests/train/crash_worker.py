"""Run ``inovos train`` and SIGKILL this process in the middle of one file write.

Usage: python crash_worker.py NAME OCCURRENCE MODE TRAIN-ARGS...

The OCCURRENCE-th write of a file called NAME (``config.yaml``, ``checkpoint.pth``;
its temporary sibling counts as NAME) is cut: MODE ``write`` kills once part of
its bytes are written, MODE ``rename`` once all are written but before the file
takes its final name. Code that writes NAME in place (no temporary file) is cut
in ``write`` mode too.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from typing import Any

import torch
import yaml

from inovos.cli import main as cli_main

NAME, OCCURRENCE, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
_seen = 0


def _hit(path: Any) -> bool:
    """Count writes of NAME (temporary or final); True at the one to cut."""
    global _seen
    name = os.path.basename(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else ""
    if name != NAME and not name.startswith(f".{NAME}.tmp"):
        return False
    _seen += 1
    return _seen == OCCURRENCE


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _name_of(f: Any) -> Any:
    """The file name behind a (text, buffered or raw) file object."""
    while f is not None and not isinstance(getattr(f, "name", None), str):
        f = getattr(f, "buffer", None) or getattr(f, "raw", None)
    return None if f is None else f.name


def _cut(data: Any, f: Any) -> None:
    f.write(data[: len(data) // 2])
    f.flush()
    _die()


real_save, real_dump, real_replace = torch.save, yaml.safe_dump, os.replace


def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    """torch.save cut after half its bytes (code without the atomic writer's file)."""
    if _hit(_name_of(f)):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        _cut(buffer.getvalue(), f)
    real_save(obj, f, *args, **kwargs)


def safe_dump(data: Any, stream: Any = None, **kwargs: Any) -> Any:
    """yaml.safe_dump cut after half its text when it writes straight into a file."""
    text = real_dump(data, **kwargs)
    if stream is None:
        return text
    if MODE == "write" and _hit(_name_of(stream)):
        _cut(text, stream)
    stream.write(text)
    return None


def replace(src: Any, dst: Any) -> None:
    if MODE == "rename" and _hit(dst):
        _die()
    real_replace(src, dst)


os.replace = replace
if MODE == "write":
    yaml.safe_dump = safe_dump
    try:
        import inovos.atomic as atomic
    except ImportError:  # code without the atomic writer
        torch.save = save
    else:

        class _Cut(atomic._RecordingFile):
            """The atomic writer's file, cut in its first write when it is the one."""

            def write(self, b: Any) -> int | None:  # type: ignore[override]
                if not hasattr(self, "cut"):
                    self.cut = _hit(self.name)
                if self.cut:
                    super().write(bytes(b)[: max(1, len(b) // 2)])
                    _die()
                return super().write(b)

        atomic._RecordingFile = _Cut  # type: ignore[misc]

torch.set_num_threads(1)
sys.exit(cli_main(["train", *sys.argv[4:]]))
