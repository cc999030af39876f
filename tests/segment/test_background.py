"""read_ahead releases its thread when the consumer fails, even on a full buffer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from inovos.segment.background import read_ahead


def _producers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "inovos-read-ahead" and t.is_alive()]


@pytest.mark.parametrize("ending", ["done", "error"])
def test_a_failing_consumer_never_leaves_the_producer_hanging(ending: str) -> None:
    at_end = threading.Event()

    def items() -> Iterator[int]:
        yield 1
        yield 2  # fills the one-slot buffer while the consumer holds item 1
        at_end.set()  # the producer now hands over its end marker (or error): buffer full
        if ending == "error":
            raise OSError("disk gone")

    assert _producers() == []
    with pytest.raises(RuntimeError, match="consumer failed"):
        for item in read_ahead(items(), depth=1):
            assert item == 1
            assert at_end.wait(5)
            time.sleep(0.3)  # the producer is blocked on the full buffer
            raise RuntimeError("consumer failed")
    # The generator's cleanup joined the producer (it used to block there for ever).
    assert _producers() == []


def test_items_and_errors_reach_the_consumer_in_order() -> None:
    assert list(read_ahead(iter(range(50)), depth=3)) == list(range(50))

    def failing() -> Iterator[int]:
        yield 7
        raise ValueError("bad frame")

    got = []
    with pytest.raises(ValueError, match="bad frame"):
        for item in read_ahead(failing(), depth=2):
            got.append(item)
    assert got == [7] and _producers() == []
