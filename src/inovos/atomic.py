"""The one way inovos writes a file: a hidden sibling, fsync, then ``os.replace``.

A reader, or a run resumed after ``kill -9``, sees the old file or the new one,
never a half-written one. The temporary sibling of ``dir/NAME`` is
``dir/.NAME.tmpPID`` (``.NAME.tmpPID-TID`` when written from another thread), so
leftovers of killed processes are recognisable; :func:`remove_stale_temps`
deletes those whose process is gone. New files get the mode ``open`` gives
(0666 minus the umask): others on a shared machine can read the results.

Any ``OSError`` (full disk, no permission, a folder path that is a regular
file) becomes an :class:`~inovos.errors.InovosError` naming the path; the
temporary file is removed without hiding the original error.

Usage::

    atomic_write_text(path, text)
    with atomic_open(path) as f:        # a binary (or "w": text) file object
        torch.save(state, f)
    with atomic_path(path) as tmp:      # for libraries that need a file name
        container = av.open(str(tmp), "w", format="mp4")
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from inovos.errors import InovosError

# ".NAME.tmpPID" or ".NAME.tmpPID-TID"
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp(?P<pid>\d+)(?:-\d+)?$")


def temp_path(path: Path) -> Path:
    """The temporary sibling this process (and thread) writes ``path`` through."""
    tag = str(os.getpid())
    if threading.current_thread() is not threading.main_thread():
        tag += f"-{threading.get_ident()}"
    return path.with_name(f".{path.name}.tmp{tag}")


def file_in_the_way(path: str | Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a folder (a regular file)."""
    for parent in Path(path).parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def write_error(path: str | Path, err: OSError) -> InovosError:
    """A one-line error for an OSError met while writing ``path``."""
    blocker = file_in_the_way(path)
    if blocker is not None:
        return InovosError(f"cannot write {path}: {blocker} is a file, not a folder")
    reason = err.strerror or str(err) or type(err).__name__
    other = err.filename if isinstance(err.filename, str) else None
    if other and Path(other).name != Path(path).name and not TEMP_NAME.match(Path(other).name):
        return InovosError(f"cannot write {path}: {other}: {reason}")
    return InovosError(f"cannot write {path}: {reason}")


class _RecordingFile(io.FileIO):
    """A raw file that remembers the first OSError of a write.

    Some writers (``torch.save``) turn a failed write into a RuntimeError with
    no reason; the recorded error restores it (e.g. "No space left on device").
    """

    error: OSError | None = None

    def write(self, b: Any) -> int | None:  # type: ignore[override]
        try:
            return super().write(b)
        except OSError as err:
            if self.error is None:
                self.error = err
            raise


def _discard(tmp: Path) -> None:
    """Remove a temporary file; never raises (the caller is already failing)."""
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: some file systems cannot open folders)."""
    with contextlib.suppress(OSError):
        _fsync_path(folder)


def _prepare(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(path, err) from None
    if path.is_dir():
        raise InovosError(f"cannot write {path}: it is a folder")
    return temp_path(path)


def _commit(tmp: Path, path: Path) -> None:
    _fsync_path(tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    Parent folders are created. The body writes the file by name (``av.open``,
    ``np.save``...); a library that infers the format from the suffix must be
    told the format, since the temporary name ends in ``.tmpPID``.

    Raises:
        InovosError: an OSError while writing (the old file is untouched).
    """
    path = Path(path)
    tmp = _prepare(path)
    try:
        yield tmp
        _commit(tmp, path)
    except OSError as err:
        _discard(tmp)
        raise write_error(path, err) from err
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "wb", encoding: str = "utf-8", newline: str | None = "\n"
) -> Iterator[IO[Any]]:
    """Yield a file object (``"wb"`` binary or ``"w"`` text) that replaces ``path`` on success.

    Args:
        path: the destination; parent folders are created.
        mode: ``"wb"`` or ``"w"``.
        encoding: text encoding (text mode).
        newline: newline translation (text mode; ``"\\n"`` writes ``\\n`` everywhere).

    Raises:
        InovosError: an OSError while writing, also when the writer (``torch.save``)
            reported it as another exception; the old file is untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    tmp = _prepare(path)
    raw: _RecordingFile | None = None
    f: IO[Any] | None = None
    try:
        raw = _RecordingFile(tmp, "w")
        f = io.BufferedWriter(raw)
        if mode == "w":
            f = io.TextIOWrapper(f, encoding=encoding, newline=newline)
        yield f
        f.close()  # flushes: a full disk shows here
        _commit(tmp, path)
    except BaseException as exc:
        if f is not None:
            with contextlib.suppress(Exception):
                f.close()
        elif raw is not None:
            raw.close()
        _discard(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        if raw is not None and raw.error is not None:
            raise write_error(path, raw.error) from exc
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` with a temporary path, then move it over ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (InovosError naming the path on failure)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically with ``\\n`` line ends."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists but belongs to someone else
        return True
    return True


def remove_stale_temps(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Delete temporary files of writers that died (``.NAME.tmpPID`` of a gone PID).

    Files of live processes (another run writing into the same folder) are kept.
    A missing or unreadable folder is not an error.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    try:
        entries = list(folder.rglob(".*.tmp*") if recursive else folder.glob(".*.tmp*"))
    except OSError:
        return []
    removed = []
    for entry in sorted(entries):
        match = TEMP_NAME.match(entry.name)
        if match is None or _process_alive(int(match["pid"])):
            continue
        try:
            if entry.is_file() and not entry.is_symlink():
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    return removed


__all__ = [
    "TEMP_NAME",
    "atomic_open",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "file_in_the_way",
    "remove_stale_temps",
    "temp_path",
    "write_error",
]
