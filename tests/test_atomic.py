"""The one atomic writer: content, mode, failures that leave the old file, stale temps."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inovos.atomic import (
    TEMP_NAME,
    atomic_open,
    atomic_path,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temps,
    temp_path,
)
from inovos.errors import InovosError


def _no_temps(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if TEMP_NAME.match(p.name)]


def test_text_and_bytes_round_trip(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a" / "b.txt", "one\ntwo\n")
    atomic_write_bytes(tmp_path / "c.bin", b"\x00\x01")
    assert (tmp_path / "a" / "b.txt").read_bytes() == b"one\ntwo\n"
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    assert _no_temps(tmp_path) and _no_temps(tmp_path / "a")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_mode_follows_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "t.txt", "x")
        with atomic_open(tmp_path / "b.pt") as f:
            torch.save({"x": torch.ones(2)}, f)
        atomic_write(tmp_path / "p.png", lambda tmp: Image.new("L", (2, 2)).save(tmp, "PNG"))
    finally:
        os.umask(old)
    for name in ("t.txt", "b.pt", "p.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_writers_through_a_file_object_and_a_path(tmp_path: Path) -> None:
    with atomic_open(tmp_path / "state.pth") as f:
        torch.save({"w": torch.arange(5)}, f)
    assert torch.equal(torch.load(tmp_path / "state.pth", weights_only=True)["w"], torch.arange(5))
    with atomic_path(tmp_path / "arrays.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, a=np.arange(3))
    assert np.load(tmp_path / "arrays.npz")["a"].tolist() == [0, 1, 2]
    assert _no_temps(tmp_path)


def test_a_failing_body_keeps_the_old_file_and_its_own_error(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("old\n")
    with pytest.raises(ZeroDivisionError), atomic_open(target, "w") as f:
        f.write("half")
        _ = 1 / 0
    with pytest.raises(ZeroDivisionError):
        atomic_write(target, lambda tmp: (tmp.write_text("half"), 1 / 0))
    assert target.read_text() == "old\n"
    assert _no_temps(tmp_path)


def test_a_path_under_a_regular_file_is_one_clean_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for write in (
        lambda p: atomic_write_text(p, "x"),
        lambda p: atomic_write(p, lambda tmp: tmp.write_bytes(b"x")),
    ):
        with pytest.raises(InovosError) as err:
            write(tmp_path / "afile" / "w.safetensors")
        message = str(err.value)
        assert "\n" not in message and f"{tmp_path / 'afile' / 'w.safetensors'}" in message
        assert message.endswith(f"{tmp_path / 'afile'} is a file, not a folder")


def test_a_folder_in_the_way_is_one_clean_error(tmp_path: Path) -> None:
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(InovosError, match=r"out\.csv: it is a folder"):
        atomic_write_text(tmp_path / "out.csv", "x")


def test_full_disk_names_the_path_and_keeps_the_old_file(small_disk: Path) -> None:
    big = torch.zeros(200_000)  # 800 KB: more than the disk holds
    target = small_disk / "checkpoint.pth"
    atomic_write_bytes(target, b"old")
    with pytest.raises(InovosError) as err, atomic_open(target) as f:
        torch.save({"x": big}, f)  # torch reports a failed write as a RuntimeError
    message = str(err.value)
    assert message.startswith(f"cannot write {target}: ") and "\n" not in message
    assert "No space left" in message or "File too large" in message
    with pytest.raises(InovosError, match=r"cannot write .*big.txt"):
        atomic_write_text(small_disk / "big.txt", "x" * 400_000)
    with pytest.raises(InovosError, match=r"cannot write .*big.png"):
        noise = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
        atomic_write(small_disk / "big.png", lambda tmp: Image.fromarray(noise).save(tmp, "PNG"))
    assert target.read_bytes() == b"old"
    assert _no_temps(small_disk)


def test_threads_use_their_own_temp_names(tmp_path: Path) -> None:
    names: list[str] = [temp_path(tmp_path / "x").name]
    thread = threading.Thread(target=lambda: names.append(temp_path(tmp_path / "x").name))
    thread.start()
    thread.join()
    assert names[0] == f".x.tmp{os.getpid()}" and names[1].startswith(f".x.tmp{os.getpid()}-")
    assert all(TEMP_NAME.match(n) for n in names)


def test_stale_temps_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    (tmp_path / "seq").mkdir()
    stale = [
        tmp_path / f".config.yaml.tmp{dead_pid}",
        tmp_path / "seq" / f".00001.png.tmp{dead_pid}-7",
    ]
    live = [tmp_path / f".checkpoint.pth.tmp{os.getpid()}", tmp_path / ".log.tmp1"]  # pid 1 lives
    other = [tmp_path / ".hidden", tmp_path / "a.tmp123", tmp_path / "config.yaml"]
    for p in stale + live + other:
        p.write_bytes(b"")
    assert remove_stale_temps(tmp_path) == [stale[0]]
    assert remove_stale_temps(tmp_path, recursive=True) == [stale[1]]
    assert all(p.exists() for p in live + other)
    assert remove_stale_temps(tmp_path / "missing") == []
