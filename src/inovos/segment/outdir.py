"""Leave no empty output folders behind a run that fails before writing results."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from inovos.records import RECORD_NAME


def _missing_ancestors(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first."""
    out = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        out.append(path)
    return out


@contextlib.contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """On an exception, delete the folders this block created that hold no results.

    A folder counts as holding no results when it is empty, or holds only a
    ``run.json`` written by this block (a record of a run that produced nothing).
    Folders that existed before are never touched; the exception is re-raised.
    """
    created = _missing_ancestors(folder)
    before = {p for p in folder.rglob("*") if p.is_dir()} if folder.is_dir() else set()
    try:
        yield
    except BaseException:
        _remove_empty(folder, created, before)
        raise


def _remove_empty(folder: Path, created: list[Path], before: set[Path]) -> None:
    new_dirs = []
    if folder.is_dir():
        new_dirs = [p for p in folder.rglob("*") if p.is_dir() and p not in before]
    for path in sorted(new_dirs, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            path.rmdir()  # only succeeds when empty
    for path in created:  # deepest first
        if path == folder and path.is_dir() and os.listdir(path) == [RECORD_NAME]:
            with contextlib.suppress(OSError):
                (path / RECORD_NAME).unlink()
        with contextlib.suppress(OSError):
            path.rmdir()
