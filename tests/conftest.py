"""Fixtures shared by every test folder."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SMALL_DISK_BYTES = 256 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder where no file can grow past 256 KiB: a full disk, as writers meet it.

    As root this is a real 256 KiB tmpfs (ENOSPC); elsewhere the process's
    file-size limit is lowered instead (EFBIG; a process-wide limit, restored after).
    """
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = False
    if os.geteuid() == 0:
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK_BYTES}", "tmpfs", str(disk)]
        mounted = subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    if mounted:
        try:
            yield disk
        finally:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)
        return
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (SMALL_DISK_BYTES, old_limit[1]))
    try:
        yield disk
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
