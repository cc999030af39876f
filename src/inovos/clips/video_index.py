"""The video index: per video its duration and frame timestamps, cached on disk.

Building the index demuxes every video (packets only, no decoding), which takes hours
on Kinetics-size data, so it is cached as an ``.npz`` file (no pickle) under a key
covering the video list (paths, sizes, mtimes), the target fps, the clip length and
the assumed frame rate of frame folders. Exactly one process builds a missing cache:
the others wait on a lock file (``fcntl.flock``) and then read what it wrote (the
cache is written to a temporary file and renamed atomically). This needs no
``torch.distributed`` and works for every rank of a job on one machine, or on several
machines sharing a file system with working locks.

Unreadable, corrupt, truncated or empty videos are skipped with one warning
each; their paths and reasons are in :attr:`VideoIndex.skipped`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inovos.atomic import atomic_open, remove_stale_temps
from inovos.clips.sampling import num_clips
from inovos.clips.video_probe import probe_one
from inovos.clips.video_sources import (
    VideoSource,
    index_cache_key,
    list_video_sources,
)
from inovos.errors import InovosError

logger = logging.getLogger(__name__)

INDEX_VERSION = 2  # 2: per-video average frame rates
_THREADS_BELOW = 256  # shorter lists are probed by threads (no process start-up cost)


@dataclass
class VideoIndex:
    """Durations and frame timestamps of the usable videos of a source.

    Attributes:
        paths: (V,) absolute paths of the usable videos (files or frame folders).
        kinds: (V,) ``"video"`` or ``"frames"``.
        durations: (V,) float64 seconds.
        pts: V arrays (n_i,) float64, the presentation times (seconds) of every frame,
            sorted ascending.
        rates: (V,) float64 average frame rate of each video (its container's; the
            assumed rate for frame folders), which the resampling rule uses.
        skipped: (path, reason) of every video left out.
        fps: target frame rate of the clips.
        clip_len: frames per clip (T).
        key: the cache key this index was built for.
        from_cache: True when it was read from the cache rather than built.
    """

    paths: list[str]
    kinds: list[str]
    durations: np.ndarray
    pts: list[np.ndarray]
    rates: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    fps: float = 8.0
    clip_len: int = 4
    key: str = ""
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_skipped(self) -> int:
        """How many listed videos were left out."""
        return len(self.skipped)

    def num_clips(self) -> np.ndarray:
        """(V,) int64 number of clips each video offers at ``fps`` with ``clip_len`` frames."""
        counts = [
            num_clips(len(p), float(r), self.fps, self.clip_len)
            for p, r in zip(self.pts, self.rates, strict=True)
        ]
        return np.array(counts, dtype=np.int64)


def probe_sources(
    sources: list[VideoSource], *, frames_fps: float, num_workers: int, progress: bool
) -> list[tuple[float, np.ndarray, float] | str]:
    """Probe every source in parallel, in order; each result is (duration, pts, rate) or a reason.

    Uses a spawn process pool of ``num_workers`` (threads for short lists, or when the
    pool cannot start, e.g. from an interactive ``__main__``), with a tqdm bar.
    """
    jobs = [(s.path, s.kind, frames_fps) for s in sources]
    use_processes = num_workers > 1 and len(jobs) >= _THREADS_BELOW
    if use_processes:
        try:
            return _run_jobs(jobs, num_workers, progress, processes=True)
        except BrokenProcessPool as err:
            logger.warning("process pool failed (%s); indexing with threads instead", err)
    return _run_jobs(jobs, num_workers, progress, processes=False)


def _run_jobs(
    jobs: list[tuple[str, str, float]], num_workers: int, progress: bool, *, processes: bool
) -> list[tuple[float, np.ndarray, float] | str]:
    bar = tqdm(total=len(jobs), desc="indexing videos", unit="video", disable=not progress)
    with bar, _executor(num_workers, processes) as pool:
        chunk = max(1, min(64, len(jobs) // (4 * max(1, num_workers)))) if processes else 1
        results = []
        for result in pool.map(probe_one, jobs, chunksize=chunk):
            results.append(result)
            bar.update(1)
    return results


@contextmanager
def _executor(num_workers: int, processes: bool) -> Iterator[Executor]:
    if not processes:
        with ThreadPoolExecutor(max_workers=max(1, min(num_workers, 4))) as pool:
            yield pool
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fork is unsafe with torch threads
    with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
        yield pool


def build_video_index(
    source: str | Path,
    *,
    root: str | Path | None = None,
    fps: float = 8.0,
    clip_len: int = 4,
    frames_fps: float = 30.0,
    cache_dir: str | Path | None = None,
    num_workers: int | None = None,
    progress: bool = True,
) -> VideoIndex:
    """Index the videos of ``source``, reading or writing the on-disk cache.

    Args:
        source: list file, folder of videos, or folder of frame folders.
        root: prefix for relative paths in a list file (default: its folder).
        fps: target clip frame rate (part of the cache key).
        clip_len: frames per clip (part of the cache key).
        frames_fps: frame rate assumed for frame folders.
        cache_dir: where the cache lives; None disables caching.
        num_workers: probing processes (default: CPU count, at most 16).
        progress: show a tqdm progress bar while building.

    Returns:
        The index; ``from_cache`` tells whether it was read from the cache.
    """
    sources = list_video_sources(source, root)
    key = index_cache_key(
        sources, fps=fps, clip_len=clip_len, frames_fps=frames_fps, version=INDEX_VERSION
    )
    workers = num_workers if num_workers is not None else min(16, os.cpu_count() or 1)

    def build() -> VideoIndex:
        return _build(sources, fps, clip_len, frames_fps, key, workers, progress)

    if cache_dir is None:
        return build()
    cache_path = Path(cache_dir).expanduser() / f"video-index-{key[:24]}.npz"
    return _load_or_build(cache_path, key, build)


def _build(
    sources: list[VideoSource],
    fps: float,
    clip_len: int,
    frames_fps: float,
    key: str,
    workers: int,
    progress: bool,
) -> VideoIndex:
    started = time.perf_counter()
    results = probe_sources(sources, frames_fps=frames_fps, num_workers=workers, progress=progress)
    paths, kinds, durations, pts, rates, skipped = [], [], [], [], [], []
    for src, result in zip(sources, results, strict=True):
        if isinstance(result, str):
            logger.warning("skipping video %s: %s", src.path, result)
            skipped.append((src.path, result))
            continue
        paths.append(src.path)
        kinds.append(src.kind)
        durations.append(result[0])
        pts.append(result[1])
        rates.append(result[2])
    logger.info(
        "indexed %d videos (%d skipped) in %.1f s",
        len(paths),
        len(skipped),
        time.perf_counter() - started,
    )
    return VideoIndex(
        paths,
        kinds,
        np.asarray(durations, np.float64),
        pts,
        np.asarray(rates, np.float64),
        skipped,
        fps,
        clip_len,
        key,
    )


def _load_or_build(cache_path: Path, key: str, build: Callable[[], VideoIndex]) -> VideoIndex:
    cached = _try_load(cache_path, key)
    if cached is not None:
        return cached
    with _file_lock(cache_path.with_suffix(".lock")):
        cached = _try_load(cache_path, key)  # built by another process while we waited
        if cached is not None:
            return cached
        remove_stale_temps(cache_path.parent)  # left by a process killed while saving
        index = build()
        save_index(index, cache_path)
        logger.info("video index cached at %s", cache_path)
        return index


@contextmanager
def _file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (released when the process dies)."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as err:
        raise InovosError(f"{lock_path.parent}: cannot use as video index cache ({err})") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process building the video index (%s)", lock_path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_load(cache_path: Path, key: str) -> VideoIndex | None:
    if not cache_path.is_file():
        return None
    try:
        index = load_index(cache_path)
    except (OSError, ValueError, KeyError) as err:
        logger.warning("ignoring unreadable video index cache %s (%s)", cache_path, err)
        return None
    if index.key != key:
        return None
    if index.skipped:
        logger.warning(
            "%d listed videos are skipped (unreadable when the index was built)",
            len(index.skipped),
        )
    logger.info("video index read from cache %s (%d videos)", cache_path, len(index))
    return index


def save_index(index: VideoIndex, path: Path) -> None:
    """Write ``index`` as an npz file (plain arrays, no pickle) through the atomic writer."""
    lengths = np.array([len(p) for p in index.pts], dtype=np.int64)
    meta = {
        "version": INDEX_VERSION,
        "fps": index.fps,
        "clip_len": index.clip_len,
        "key": index.key,
    }
    arrays: dict[str, Any] = {
        "meta": np.array(json.dumps(meta)),
        "paths": np.array(index.paths, dtype=np.str_),
        "kinds": np.array(index.kinds, dtype=np.str_),
        "durations": index.durations.astype(np.float64),
        "pts": np.concatenate(index.pts) if index.pts else np.zeros(0),
        "pts_lengths": lengths,
        "rates": index.rates.astype(np.float64),
        "skipped_paths": np.array([s[0] for s in index.skipped], dtype=np.str_),
        "skipped_reasons": np.array([s[1] for s in index.skipped], dtype=np.str_),
    }
    with atomic_open(path) as f:
        np.savez(f, **arrays)


def load_index(path: Path) -> VideoIndex:
    """Read an index written by :func:`save_index`."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("version") != INDEX_VERSION:
            raise ValueError(f"index version {meta.get('version')} != {INDEX_VERSION}")
        lengths = data["pts_lengths"]
        flat = data["pts"]
        pts = np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []
        names, reasons = data["skipped_paths"].tolist(), data["skipped_reasons"].tolist()
        skipped = list(zip(names, reasons, strict=True))
        return VideoIndex(
            paths=data["paths"].tolist(),
            kinds=data["kinds"].tolist(),
            durations=data["durations"],
            pts=list(pts),
            rates=data["rates"],
            skipped=skipped,
            fps=float(meta["fps"]),
            clip_len=int(meta["clip_len"]),
            key=str(meta["key"]),
            from_cache=True,
        )
