"""Range-checked option types: a bad number is refused before any work starts.

``type=int_in(1, 1024)`` makes argparse reject ``--batch-size 0`` with one line
naming the option and the allowed range (``argument --batch-size: must be an integer
from 1 to 1024, got 0``). Floats also refuse nan and infinities.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

SEED_MAX = 2**32 - 1  # NumPy's seeds; torch accepts these too


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type accepting integers in ``low..high`` (no upper bound when None)."""
    allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer {allowed}, got {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}, got {value}")
        return value

    return parse


def float_in(
    low: float, high: float | None = None, *, low_open: bool = False
) -> Callable[[str], float]:
    """An argparse type accepting finite floats in ``[low, high]`` (``(low, high]`` if open)."""
    left = f"above {low:g}" if low_open else f"at least {low:g}"
    allowed = f"{left} and at most {high:g}" if high is not None else left

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {allowed}, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a number {allowed}, got {text}")
        return value

    return parse


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``PROG: error: MESSAGE (see PROG --help)``."""

    def error(self, message: str) -> NoReturn:
        """Print the error on one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
