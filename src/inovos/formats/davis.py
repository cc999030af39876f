"""The DAVIS-2017 folder layout and its split files (``ImageSets/2017/<split>.txt``).

One reader for the split files, shared by the dataset reader and the evaluator: names
are stripped, blank lines skipped and a name listed twice counts once (first place
kept), as in the official evaluation tool, so a sequence never weighs twice.
"""

from __future__ import annotations

from pathlib import Path

from inovos.errors import InovosError

SPLITS_SUBDIR = Path("ImageSets") / "2017"


def split_path(root: str | Path, split: str) -> Path:
    """``<root>/ImageSets/2017/<split>.txt``."""
    return Path(root) / SPLITS_SUBDIR / f"{split}.txt"


def read_split(path: str | Path) -> tuple[str, ...]:
    """Sequence names of a split file, in file order, each once.

    Raises:
        InovosError: a missing or unreadable file, or one that lists no sequence.
    """
    path = Path(path)
    if not path.is_file():
        raise InovosError(
            f"{path}: DAVIS split file not found (expected {SPLITS_SUBDIR}/<split>.txt)"
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InovosError(f"{path}: cannot read split file ({err})") from None
    names = tuple(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if not names:
        raise InovosError(f"{path}: split file lists no sequence")
    return names
