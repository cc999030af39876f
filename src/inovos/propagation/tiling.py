"""Query tiling for windowed propagation: spans, reaches and a cost model (no tensors).

The propagation kernel works on (A, B, D) feature grids, row-major. A query tile of
(ta, tb) positions is scored against the rectangle of candidates its window can reach;
that rectangle is a free view of a context frame when it spans the whole B axis, and a
copy otherwise. Features can be stored as (h, w, D) or transposed as (w, h, D), so the
planner picks the orientation and the tile that minimise a rough cost model under a
memory budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Per device type: (matmul flop/s, copy byte/s, scan element/s, seconds of fixed overhead
# per (tile, frame), queries at which the matmul runs at half speed). Orders of
# magnitude measured on a 2-core AVX2 CPU and guessed for CUDA; they only rank plans.
_COSTS = {
    "cpu": (8e10, 8e9, 3e9, 1.5e-4, 50.0),
    "cuda": (2e13, 1e12, 1e11, 1e-4, 200.0),
}
_DEFAULT_BUDGET = {"cpu": 48 << 20, "cuda": 1 << 30}
_TILE_SIDES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 30, 32, 40, 48, 64, 96, 128, 192, 256)
PAD = 64  # score rows are padded to a multiple of this (see ``affinity.frame_topk``)


@dataclass(frozen=True)
class TilePlan:
    """How to tile one propagation.

    Attributes:
        transpose: work on (w, h, D) grids (features stored column-major) instead of
            (h, w, D).
        tile: (ta, tb) query tile in the working orientation.
    """

    transpose: bool
    tile: tuple[int, int]


def spans(n: int, size: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) ranges of ``size`` (the last may be shorter) covering range(n)."""
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def reach(lo: int, hi: int, radius: int, n: int) -> tuple[int, int]:
    """[lo', hi') of the positions within ``radius`` of any position in [lo, hi), clipped."""
    return max(0, lo - radius), min(n, hi + radius)


def padded(n: int) -> int:
    """``n`` rounded up to a multiple of ``PAD``."""
    return -(-n // PAD) * PAD


def tile_workspace_bytes(
    tile: tuple[int, int], grid: tuple[int, int], radius: int, dim: int, itemsize: int = 4
) -> int:
    """Peak temporaries of one tile: scores (Q, M padded), bias (Q, M), key window (M, D)."""
    ta, tb = min(tile[0], grid[0]), min(tile[1], grid[1])
    nb = min(grid[1], tb + 2 * radius)
    m = min(grid[0], ta + 2 * radius) * nb
    window = 0 if nb == grid[1] else m * dim
    return (ta * tb * (padded(m) + m) + window) * itemsize


def _axis(n: int, side: int, radius: int) -> tuple[int, int, int, int]:
    """Along one axis: (sum of tile length x reach, sum of reach, sum of the reaches that
    are not the whole axis, number of tiles)."""
    pairs = reached = partial = 0
    parts = spans(n, side)
    for lo, hi in parts:
        rlo, rhi = reach(lo, hi, radius, n)
        pairs += (hi - lo) * (rhi - rlo)
        reached += rhi - rlo
        partial += 0 if rhi - rlo == n else rhi - rlo
    return pairs, reached, partial, len(parts)


def pair_counts(grid: tuple[int, int], tile: tuple[int, int], radius: int) -> tuple[int, int, int]:
    """Per context frame: (query, candidate) pairs scored with this tiling, pairs inside
    the windows (the exact minimum), and all N*N pairs (the dense computation)."""

    def inside(n: int) -> int:  # sum over positions of the clipped window length
        return sum(min(n - 1, i + radius) - max(0, i - radius) + 1 for i in range(n))

    scored = _axis(grid[0], tile[0], radius)[0] * _axis(grid[1], tile[1], radius)[0]
    n = grid[0] * grid[1]
    return scored, inside(grid[0]) * inside(grid[1]), n * n


def _candidates(n: int) -> list[int]:
    return sorted({s for s in _TILE_SIDES if s < n} | {n})


def _plan_cost(
    grid: tuple[int, int], tile: tuple[int, int], radius: int, n_frames: int, dim: int, device: str
) -> float:
    flops, copy_bw, scan, overhead, half_q = _COSTS.get(device, _COSTS["cuda"])
    a, b = _axis(grid[0], tile[0], radius), _axis(grid[1], tile[1], radius)
    pairs, tiles = a[0] * b[0], a[3] * b[3]
    queries = min(tile[0], grid[0]) * min(tile[1], grid[1])
    matmul = 2 * pairs * dim / (flops * queries / (queries + half_q))
    copies = 4 * a[1] * b[2] * dim / copy_bw
    per_frame = matmul + copies + 2 * pairs / scan + tiles * overhead
    return n_frames * per_frame + pairs / scan


def plan_tiles(
    grid: tuple[int, int],
    radius: int,
    n_frames: int,
    dim: int,
    budget: int | None = None,
    device_type: str = "cpu",
) -> tuple[int, int]:
    """Query tile (ta, tb) for a fixed (A, B) grid: lowest modelled cost within ``budget``.

    The model counts matmul work over every (query, candidate in the tile's rectangle)
    pair (slower for few queries), copies of rectangles that do not span the B axis, two
    scans of the scores, and a fixed overhead per (tile, frame). Small tiles waste less
    work on masked candidates; large tiles copy less and call fewer operations.

    Args:
        grid: (A, B) feature grid in the working orientation.
        radius: window half-size R.
        n_frames: context frames C.
        dim: feature dim D.
        budget: bytes of temporaries per tile (default 48 MiB on CPU, 1 GiB on CUDA).
        device_type: "cpu" or "cuda" (other types use the CUDA constants).

    Returns:
        (ta, tb) with 1 <= ta <= A and 1 <= tb <= B.
    """
    if budget is None:
        budget = _DEFAULT_BUDGET.get(device_type, _DEFAULT_BUDGET["cuda"])
    best: tuple[float, tuple[int, int]] = (math.inf, (1, 1))
    for ta in _candidates(grid[0]):
        for tb in _candidates(grid[1]):
            if (ta, tb) != (1, 1) and tile_workspace_bytes((ta, tb), grid, radius, dim) > budget:
                continue
            cost = _plan_cost(grid, (ta, tb), radius, n_frames, dim, device_type)
            best = min(best, (cost, (ta, tb)))
    return best[1]


def plan_layout(
    grid: tuple[int, int],
    radius: int,
    n_frames: int,
    dim: int,
    budget: int | None = None,
    device_type: str = "cpu",
) -> TilePlan:
    """The cheaper of the two orientations of an (h, w) grid and its tile (``plan_tiles``)."""
    plans = []
    for transpose in (False, True):
        work = (grid[1], grid[0]) if transpose else grid
        tile = plan_tiles(work, radius, n_frames, dim, budget, device_type)
        cost = _plan_cost(work, tile, radius, n_frames, dim, device_type)
        plans.append((cost, transpose, tile))
    _, transpose, tile = min(plans)
    return TilePlan(transpose, tile)
