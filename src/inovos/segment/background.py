"""Overlap file I/O with compute: read ahead in a thread, write behind in a thread pool."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, keeping up to ``depth`` ready.

    Exceptions raised while producing an item are re-raised in the consumer.
    If the consumer stops early (or fails) the producer thread ends too, even when
    it is waiting to hand over the last item or an error on a full buffer.
    """
    if depth <= 0:
        yield from items
        return
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[Any, BaseException | None]) -> bool:
        """Put ``entry`` unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((_END, None))
        except BaseException as err:  # handed to the consumer (if it is still there)
            offer((_END, err))

    thread = threading.Thread(target=produce, name="inovos-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, err = buffer.get()
            if err is not None:
                raise err
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class BackgroundWriter:
    """Run write jobs in a small thread pool with a bounded backlog.

    ``submit`` blocks once ``max_pending`` jobs are waiting, so memory stays
    bounded. ``close`` waits for every job and re-raises the first error.
    """

    def __init__(self, workers: int = 2, max_pending: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="inovos-w")
        self._pending: list[Future[None]] = []
        self._max_pending = max_pending

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)``; waits for the oldest job when the backlog is full."""
        while len(self._pending) >= self._max_pending:
            self._pending.pop(0).result()  # re-raises that job's error
        self._pending.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Wait for all queued jobs; re-raise the first error."""
        try:
            for f in self._pending:
                f.result()
        finally:
            self._pending = []
            self._pool.shutdown(wait=True)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
