"""Fetch named weights into the cache: progress bar, SHA-256 check, atomic move into place.

A download streams into a hidden temporary file next to its destination (the project's
atomic writer) while its SHA-256 is computed; only a complete file with the expected
hash is moved into place, so a failed or interrupted download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from inovos.atomic import atomic_open, atomic_write_text
from inovos.errors import InovosError
from inovos.models.registry import NamedWeights, cache_dir, download_url
from inovos.models.sha import file_sha256

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_S = 60.0
RECORD_SUFFIX = ".sha256"


def _network_error(entry: NamedWeights, url: str, exc: BaseException) -> InovosError:
    if isinstance(exc, urllib.error.HTTPError):
        return InovosError(f"cannot download {entry.name} from {url}: HTTP {exc.code} {exc.reason}")
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
    return InovosError(
        f"cannot download {entry.name} from {url}: {reason} (offline? download the file by "
        "hand and pass --model FILE)"
    )


def _stream(entry: NamedWeights, url: str, out: IO[Any], progress: bool | None) -> str:
    """Copy ``url`` into ``out``; returns the SHA-256 of the bytes."""
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _network_error(entry, url, exc) from None
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        done = 0
        quiet = None if progress is None else not progress  # None: a bar on terminals only
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=entry.name, disable=quiet)
        with bar:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _network_error(entry, url, exc) from None
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                bar.update(len(chunk))
    if total is not None and done != total:
        raise InovosError(
            f"cannot download {entry.name} from {url}: the connection closed after {done} of "
            f"{total} bytes; nothing was saved"
        )
    return digest.hexdigest()


def download(entry: NamedWeights, dest: Path, progress: bool | None = None) -> str:
    """Download ``entry`` to ``dest`` (atomically, checked against ``entry.sha256``).

    Returns:
        The SHA-256 of the file.

    Raises:
        InovosError: no connection, an HTTP error, a short read or a checksum mismatch;
            ``dest`` is then untouched and no temporary file is left.
    """
    url = download_url(entry)
    logger.info("downloading %s from %s to %s", entry.name, url, dest)
    with atomic_open(dest) as out:
        digest = _stream(entry, url, out, progress)
        if entry.sha256 is not None and digest != entry.sha256:
            raise InovosError(
                f"download of {entry.name} from {url} has SHA-256 {digest}, the registry "
                f"expects {entry.sha256}; nothing was saved"
            )
    return digest


def fetch_weights(entry: NamedWeights, progress: bool | None = None) -> tuple[Path, str]:
    """The cached file of ``entry``, downloaded on first use and verified on every use.

    The expected SHA-256 is the published one, else the one recorded beside the file at
    its first download (``FILE.sha256``).

    Returns:
        (path of the file, its SHA-256).

    Raises:
        InovosError: download failures, or a cached file whose hash changed.
    """
    dest = cache_dir() / entry.filename
    record = dest.with_name(dest.name + RECORD_SUFFIX)
    if dest.is_file():
        digest = file_sha256(dest)
        recorded = record.read_text().strip() if record.is_file() else None
        expected = entry.sha256 or recorded
        if expected is not None and digest != expected:
            origin = "the published" if entry.sha256 else "the one recorded at its first download"
            raise InovosError(
                f"{dest}: SHA-256 {digest} differs from {origin} ({expected}); delete the file "
                "to download it again"
            )
    else:
        digest = download(entry, dest, progress)
        recorded = None
    if recorded != digest:
        atomic_write_text(record, digest + "\n")
    return dest, digest


__all__ = ["download", "fetch_weights"]
