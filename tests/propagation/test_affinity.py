"""Windowed top-k propagation against a plain dense reference.

``reference_propagate`` is the plain, obviously-correct implementation: one dense
(N, C*N) score matrix, an explicit additive -inf window mask, top-k, softmax, weighted
sum. ``benchmarks/propagation_step.py`` imports it from here (one copy only).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inovos.propagation.affinity import (
    frame_topk,
    propagate_labels,
    propagate_windowed,
    window_bias,
)
from inovos.propagation.tiling import (
    PAD,
    pair_counts,
    plan_layout,
    plan_tiles,
    spans,
    tile_workspace_bytes,
)


def reference_propagate(
    query: torch.Tensor,
    keys: torch.Tensor,
    labels: torch.Tensor,
    radius: int,
    topk: int,
    temperature: float,
) -> torch.Tensor:
    """Dense reference: query (D, h, w), keys (C, D, h, w), labels (C, L, h, w) -> (L, h, w)."""
    d, h, w = query.shape
    c, num_labels = keys.shape[0], labels.shape[1]
    n = h * w
    q = query.reshape(d, n).T  # (N, D)
    k = keys.reshape(c, d, n).permute(0, 2, 1).reshape(c * n, d)  # (C*N, D), frame-major
    rows = torch.arange(h, device=query.device).repeat_interleave(w)  # (N,) row of each position
    cols = torch.arange(w, device=query.device).repeat(h)  # (N,) column of each position
    inside = ((rows[:, None] - rows[None, :]).abs() <= radius) & (
        (cols[:, None] - cols[None, :]).abs() <= radius
    )  # (N, N)
    bias = torch.zeros(n, n, dtype=query.dtype, device=query.device)
    bias = bias.masked_fill(~inside, float("-inf"))
    scores = (q @ k.T).view(n, c, n)  # (N, C, N)
    scores += bias[:, None, :]
    values, index = scores.view(n, c * n).topk(min(topk, c * n), dim=1)  # (N, k)
    weights = torch.softmax(values / temperature, dim=1)  # (N, k)
    lab = labels.reshape(c, num_labels, n).permute(0, 2, 1).reshape(c * n, num_labels)
    out = (weights[:, :, None] * lab[index]).sum(dim=1)  # (N, L)
    return out.T.reshape(num_labels, h, w)


def random_problem(
    h: int, w: int, c: int, d: int, num_labels: int, seed: int, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    query = F.normalize(torch.randn(d, h, w, generator=gen, dtype=dtype), dim=0)
    keys = F.normalize(torch.randn(c, d, h, w, generator=gen, dtype=dtype), dim=1)
    labels = torch.rand(c, num_labels, h, w, generator=gen, dtype=dtype)
    return query, keys, labels


def assert_same(out: torch.Tensor, ref: torch.Tensor, atol: float = 1e-5) -> None:
    """Soft maps (L, h, w) within ``atol``, and the same argmax wherever the reference's
    best channel leads by more than 2 * atol (closer calls are ties within rounding)."""
    assert out.shape == ref.shape
    assert (out.double() - ref.double()).abs().max().item() <= atol
    top2 = ref.topk(2, dim=0).values
    clear = (top2[0] - top2[1]) > 2 * atol
    assert clear.float().mean().item() > 0.5  # the check is not vacuous
    assert torch.equal(out.argmax(0)[clear], ref.argmax(0)[clear])


@pytest.mark.parametrize(
    ("h", "w", "c", "radius", "topk", "tile"),
    [
        (7, 11, 3, 2, 5, (3, 5)),  # tiles that do not divide the grid, window cuts
        (9, 6, 1, 1, 5, (2, 4)),  # one frame, 3x3 window
        (8, 8, 4, 3, 3, (8, 8)),  # one tile covering the grid
        (5, 9, 2, 0, 5, (2, 2)),  # R = 0: fewer candidates than k
        (6, 10, 2, 20, 4, (1, 3)),  # window larger than the grid
        (10, 7, 3, 2, 1, None),  # planned tiles, top-1
        (4, 4, 2, 1, 40, (3, 3)),  # k larger than all candidates
    ],
)
def test_matches_dense_reference(h, w, c, radius, topk, tile):
    query, keys, labels = random_problem(h, w, c, 12, 4, seed=h * 100 + w)
    ref = reference_propagate(query, keys, labels, radius, topk, 0.1)
    for transpose in (False, True):
        out = propagate_labels(
            query,
            keys,
            labels,
            radius=radius,
            topk=topk,
            temperature=0.1,
            tile=tile,
            transpose=transpose,
        )
        assert_same(out, ref, atol=1e-10)
    assert_same(
        propagate_labels(query, keys, labels, radius=radius, topk=topk, temperature=0.1),
        ref,
        atol=1e-10,
    )


def test_float32_matches_reference_within_1e5():
    query, keys, labels = random_problem(12, 17, 5, 32, 3, seed=7, dtype=torch.float32)
    ref = reference_propagate(query, keys, labels, 4, 5, 0.1)
    for tile, transpose in [((5, 7), False), ((12, 17), False), ((1, 1), True), (None, None)]:
        out = propagate_labels(
            query,
            keys,
            labels,
            radius=4,
            topk=5,
            temperature=0.1,
            tile=tile,
            transpose=transpose,
        )
        assert_same(out, ref, atol=1e-5)


def test_groups_equal_separate_calls():
    query, keys, labels = random_problem(6, 8, 4, 10, 3, seed=3)
    q = query.permute(1, 2, 0).contiguous()
    k = list(keys.permute(0, 2, 3, 1).contiguous())
    lab = labels.permute(0, 2, 3, 1).reshape(-1, 3)
    groups = [[0, 1, 2], [3, 1], [2]]
    outs = propagate_windowed(
        q, k, lab, radius=2, topk=4, temperature=0.07, groups=groups, tile=(4, 3)
    )
    for group, out in zip(groups, outs, strict=True):
        ref = reference_propagate(query, keys[group], labels[group], 2, 4, 0.07)
        assert_same(out.permute(2, 0, 1), ref, atol=1e-10)


def test_hand_computed_one_row():
    # 1 x 3 grid, one context frame, 2-D features, R = 1, top-2.
    s = 1 / math.sqrt(2)
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0], [s, s]], dtype=torch.float64).T.reshape(2, 1, 3)
    key = torch.tensor([[1.0, 0.0], [s, s], [0.0, 1.0]], dtype=torch.float64).T.reshape(1, 2, 1, 3)
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)  # (L=2, 3)
    labels = labels.reshape(1, 2, 1, 3)
    out = propagate_labels(query, key, labels, radius=1, topk=2, temperature=0.5)
    # Query 0 reaches keys 0, 1 with scores 1 and s: weights softmax([1, s] / 0.5).
    w0 = torch.softmax(torch.tensor([1.0, s], dtype=torch.float64) / 0.5, dim=0)
    # Query 1 reaches keys 0, 1, 2 with scores 0, s, 1: top-2 = key 2 (label 0 0), key 1.
    w1 = torch.softmax(torch.tensor([1.0, s], dtype=torch.float64) / 0.5, dim=0)
    # Query 2 reaches keys 1, 2 with scores 1 and s: key 1 (label [0, 1]) and key 2.
    w2 = w0
    expected = torch.tensor(
        [[w0[0].item(), 0.0, 0.0], [w0[1].item(), w1[1].item(), w2[0].item()]],
        dtype=torch.float64,
    ).reshape(2, 1, 3)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    # The window matters: with R = 2 query 0 also reaches key 2 (score 0) but top-2
    # still keeps keys 0 and 1; with top-3 it enters with weight exp(0).
    out3 = propagate_labels(query, key, labels, radius=2, topk=3, temperature=0.5)
    w = torch.softmax(torch.tensor([1.0, s, 0.0], dtype=torch.float64) / 0.5, dim=0)
    assert out3[0, 0, 0].item() == pytest.approx(w[0].item(), abs=1e-12)
    assert out3[1, 0, 0].item() == pytest.approx(w[1].item(), abs=1e-12)


def test_identical_frames_return_the_labels():
    # Every context frame is the query frame itself: the k best candidates are the
    # query position in k frames (score 1), so the output is its own label.
    query, _, _ = random_problem(7, 9, 1, 16, 3, seed=11)
    labels = torch.rand(1, 3, 7, 9, dtype=torch.float64).expand(5, -1, -1, -1)
    keys = query[None].expand(5, -1, -1, -1)
    out = propagate_labels(query, keys, labels, radius=2, topk=5, temperature=0.1, tile=(3, 4))
    torch.testing.assert_close(out, labels[0], rtol=0, atol=1e-12)


def test_frame_topk_matches_topk():
    gen = torch.Generator().manual_seed(0)
    for q, m, k in [(5, 117, 5), (3, 160, 4), (6, 140, 1), (2, 9, 5), (4, 700, 7)]:
        scores = torch.full((q, -(-m // PAD) * PAD), float("-inf"), dtype=torch.float64)
        scores[:, :m] = torch.randn(q, m, generator=gen, dtype=torch.float64)
        scores[0, : m // 2] = float("-inf")  # masked candidates
        scores[1, 3] = scores[1, :m].max() + 1.0  # a clear winner
        values, index = frame_topk(scores, k)
        ref_values, ref_index = scores.topk(k, dim=1)
        torch.testing.assert_close(values, ref_values, rtol=0, atol=0)
        finite = torch.isfinite(ref_values)
        assert torch.equal(index[finite], ref_index[finite])
        assert index[1, 0].item() == 3


def test_window_bias_marks_the_square_window():
    bias = window_bias((2, 4), (0, 2), (0, 5), (0, 3), 1, torch.float32, torch.device("cpu"))
    assert bias.shape == (4, 15)
    grid = bias.view(2, 2, 5, 3)  # (query row, query col, cand row, cand col)
    for qi, qj, ci, cj in torch.cartesian_prod(*(torch.arange(n) for n in (2, 2, 5, 3))):
        inside = abs(qi + 2 - ci) <= 1 and abs(qj - cj) <= 1
        assert grid[qi, qj, ci, cj].item() == (0.0 if inside else float("-inf"))


def test_spans_and_plan_respect_the_budget():
    assert spans(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert spans(4, 10) == [(0, 4)]
    budget = 8 << 20
    tile = plan_tiles((60, 106), 40, 11, 384, budget=budget)
    assert 1 <= tile[0] <= 60 and 1 <= tile[1] <= 106
    assert tile_workspace_bytes(tile, (60, 106), 40, 384) <= budget
    # A huge budget on a tiny grid: one tile covering everything is cheapest.
    assert plan_tiles((4, 5), 1, 2, 8, budget=1 << 30) == (4, 5)
    # DAVIS ino-davis: the window spans all 60 rows, so column-major storage gives free
    # key rectangles; the planner prefers it.
    assert plan_layout((60, 106), 40, 11, 384).transpose
    # Pair counts by hand: 1x3 grid, R = 1: windows of 2, 3, 2 candidates.
    assert pair_counts((1, 3), (1, 1), 1) == (7, 7, 9)
    assert pair_counts((1, 3), (1, 3), 1) == (9, 7, 9)


def test_rejects_half_precision_on_cpu():
    query, keys, labels = random_problem(3, 3, 1, 4, 2, seed=0, dtype=torch.float32)
    with pytest.raises(ValueError, match="CUDA"):
        propagate_labels(
            query, keys, labels, radius=1, topk=2, temperature=0.1, compute_dtype=torch.float16
        )
