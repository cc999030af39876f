"""Windowed top-k feature affinity and label propagation to one frame.

For query position i and candidate j of any context frame: s_ij = <f_i, f_j>, kept only
when |row_i - row_j| <= R and |col_i - col_j| <= R; the top-k scores over ALL context
frames jointly give weights softmax(s / temperature) and the prediction
sum_j w_ij * label_j.

Never a dense (N, C*N) matrix: the query grid is cut into tiles (``tiling``), each tile
is scored frame by frame against only the rectangle of candidates its window can reach
(an additive 0/-inf bias masks the rest), each frame keeps its own top-k, and the
per-frame lists are merged. The union of the per-frame top-k lists contains the joint
top-k, so the result is exact (up to the order of exactly tied scores).

The kernel is written for (A, B, D) grids; (h, w, D) and its transpose (w, h, D) give
the same result, and the planner (``tiling.plan_layout``) says which is cheaper.
Shapes: N = A*B, D feature dim, C context frames, L label channels, Q = ta*tb queries of
a tile, na x nb its candidate rectangle, M = na*nb.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from inovos.propagation.tiling import padded, plan_layout, plan_tiles, reach, spans

_GROUP = 8  # candidates per chunk in ``frame_topk``


def window_bias(
    rows: tuple[int, int],
    cols: tuple[int, int],
    win_rows: tuple[int, int],
    win_cols: tuple[int, int],
    radius: int,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Additive window mask of a query tile against its candidate rectangle.

    Returns:
        (Q, na*nb): 0 where |drow| <= radius and |dcol| <= radius, -inf elsewhere; query
        order row-major over the tile, candidate order row-major over the rectangle.
    """

    def axis_bias(a: tuple[int, int], b: tuple[int, int]) -> torch.Tensor:  # (len a, len b)
        pa = torch.arange(a[0], a[1], device=device)
        pb = torch.arange(b[0], b[1], device=device)
        far = (pa[:, None] - pb[None, :]).abs() > radius
        return torch.zeros(far.shape, dtype=dtype, device=device).masked_fill_(far, float("-inf"))

    row_bias = axis_bias(rows, win_rows)[:, None, :, None]  # (ta, 1, na, 1)
    col_bias = axis_bias(cols, win_cols)[None, :, None, :]  # (1, tb, 1, nb)
    bias = row_bias + col_bias  # (ta, tb, na, nb): -inf if either axis is out of reach
    return bias.view(bias.shape[0] * bias.shape[1], bias.shape[2] * bias.shape[3])


def frame_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact row-wise top-k that reads the scores about once (``torch.topk`` is slow here).

    The M columns are split into M/G chunks of G = ``_GROUP`` columns strided by M/G; the
    k largest values all lie in the k chunks with the largest maxima (any value above the
    k-th largest chunk maximum is in one of those chunks, and those chunks hold k values
    at least that large). So: chunk maxima (a vectorised reduction over the G rows of the
    (Q, G, M/G) view), the top-k chunks, then the top-k of their k*G values.

    Args:
        scores: (Q, M); M a multiple of ``_GROUP`` (``tiling.PAD``) unless it is small.
        k: number kept, 1 <= k <= M.

    Returns:
        values (Q, k) descending, column indices (Q, k) int64.
    """
    q, m = scores.shape
    inner = m // _GROUP
    if m % _GROUP or inner < max(k, _GROUP):
        return scores.topk(k, dim=1)
    view = scores.view(q, _GROUP, inner)  # column r*inner + j is view[:, r, j]
    kk = min(k, inner)
    chunks = view.amax(dim=1).topk(kk, dim=1).indices  # (Q, kk) chunk ids j
    picked = view.gather(2, chunks[:, None, :].expand(q, _GROUP, kk))  # (Q, G, kk)
    values, pos = picked.reshape(q, _GROUP * kk).topk(k, dim=1)  # (Q, k)
    return values, (pos // kk) * inner + chunks.gather(1, pos % kk)


def propagate_windowed(
    query: torch.Tensor,
    keys: Sequence[torch.Tensor],
    labels: torch.Tensor,
    *,
    radius: int,
    topk: int,
    temperature: float,
    groups: Sequence[Sequence[int]] | None = None,
    tile: tuple[int, int] | None = None,
    memory_budget: int | None = None,
    compute_dtype: torch.dtype | None = None,
) -> list[torch.Tensor]:
    """Propagate context labels to a query frame: the channels-last core.

    Args:
        query: (A, B, D) L2-normalised query features.
        keys: C tensors (A, B, D), L2-normalised context features; contiguous ones make
            rectangles spanning the B axis free views.
        labels: (C*A*B, L) context labels, row c*A*B + a*B + b.
        radius: window half-size R (grid cells).
        topk: neighbours kept jointly over the frames of a group.
        temperature: softmax temperature.
        groups: lists of context indices; each group is propagated on its own (its own
            joint top-k), sharing the per-frame scoring. Default: one group of all frames.
        tile: query tile (ta, tb); default from ``tiling.plan_tiles``.
        memory_budget: bytes of per-tile temporaries for ``tiling.plan_tiles``.
        compute_dtype: dtype of the scores (default: the query's dtype). float16 and
            bfloat16 only on CUDA; the softmax and label sum use the labels' dtype.

    Returns:
        One (A, B, L) prediction per group, in the labels' dtype.
    """
    a, b, dim = query.shape
    device = query.device
    dtype = compute_dtype or query.dtype
    if dtype in (torch.float16, torch.bfloat16) and device.type == "cpu":
        raise ValueError("half-precision scores are only supported on CUDA")
    if not keys:
        raise ValueError("propagation needs at least one context frame")
    if groups is None:
        groups = [range(len(keys))]
    group_list = [torch.tensor(list(g), dtype=torch.long, device=device) for g in groups]
    if tile is None:
        tile = plan_tiles((a, b), radius, len(keys), dim, memory_budget, device.type)
    outs = [labels.new_zeros(a, b, labels.shape[1]) for _ in group_list]
    query = query.to(dtype)
    for r0, r1 in spans(a, tile[0]):
        for c0, c1 in spans(b, tile[1]):
            results = _propagate_tile(
                query, keys, labels, group_list, (r0, r1), (c0, c1), radius, topk, temperature
            )
            for out, res in zip(outs, results, strict=True):
                out[r0:r1, c0:c1] = res.view(r1 - r0, c1 - c0, -1)
    return outs


def _propagate_tile(
    query: torch.Tensor,
    keys: Sequence[torch.Tensor],
    labels: torch.Tensor,
    groups: list[torch.Tensor],
    rows: tuple[int, int],
    cols: tuple[int, int],
    radius: int,
    topk: int,
    temperature: float,
) -> list[torch.Tensor]:
    """One query tile against every context frame: per-frame top-k, then per-group merge.

    Returns:
        One (Q, L) prediction per group.
    """
    a, b, dim = query.shape
    win_r, win_c = reach(*rows, radius, a), reach(*cols, radius, b)
    nb = win_c[1] - win_c[0]
    q = query[rows[0] : rows[1], cols[0] : cols[1]].reshape(-1, dim)  # (Q, D)
    bias = window_bias(rows, cols, win_r, win_c, radius, query.dtype, query.device)  # (Q, M)
    nq, m = bias.shape
    k = min(topk, m)
    padded_scores = bias.new_full((nq, padded(m)), float("-inf"))  # (Q, Mp)
    scores = padded_scores[:, :m]  # (Q, M) view, row stride Mp
    values = bias.new_empty(nq, len(keys), k)  # (Q, C, k) per-frame top-k scores
    local = torch.empty(nq, len(keys), k, dtype=torch.long, device=query.device)  # in M
    for c, key in enumerate(keys):
        window = key[win_r[0] : win_r[1], win_c[0] : win_c[1]].reshape(-1, dim)  # (M, D)
        torch.addmm(bias, q, window.to(query.dtype).T, out=scores)
        values[:, c], local[:, c] = frame_topk(padded_scores, k)
    local.clamp_(max=m - 1)  # a -inf padding pick (weight 0) -> any valid candidate
    results = []
    for group in groups:  # (Cg,) context indices
        top, pos = values[:, group].reshape(nq, -1).topk(min(topk, len(group) * k), dim=1)
        frame = group[pos // k]  # (Q, k) context index
        col = local[:, group].reshape(nq, -1).gather(1, pos)  # (Q, k) index in M
        flat = frame * (a * b) + (win_r[0] + col // nb) * b + (win_c[0] + col % nb)
        weights = torch.softmax(top.to(labels.dtype) / temperature, dim=1)  # (Q, k)
        picked = labels[flat]  # (Q, k, L)
        results.append(torch.bmm(weights[:, None, :], picked)[:, 0])  # (Q, L)
    return results


def propagate_labels(
    query: torch.Tensor,
    keys: torch.Tensor,
    labels: torch.Tensor,
    *,
    radius: int,
    topk: int,
    temperature: float,
    memory_budget: int | None = None,
    compute_dtype: torch.dtype | None = None,
    tile: tuple[int, int] | None = None,
    transpose: bool | None = None,
) -> torch.Tensor:
    """Propagate context labels to a query frame, channels-first interface.

    Args:
        query: (D, h, w) L2-normalised features of the query frame.
        keys: (C, D, h, w) L2-normalised features of the context frames.
        labels: (C, L, h, w) soft labels of the context frames.
        radius, topk, temperature, memory_budget, compute_dtype: see
            ``propagate_windowed``.
        tile: query tile in the working orientation (default: planned).
        transpose: work on (w, h) grids (default: ``tiling.plan_layout`` decides).

    Returns:
        (L, h, w) soft prediction in the labels' dtype.
    """
    if query.ndim != 3 or keys.ndim != 4 or labels.ndim != 4:
        raise ValueError("expected query (D, h, w), keys (C, D, h, w), labels (C, L, h, w)")
    if keys.shape[1:] != query.shape or labels.shape[0] != keys.shape[0]:
        raise ValueError(
            f"shape mismatch: query {tuple(query.shape)}, keys {tuple(keys.shape)}, "
            f"labels {tuple(labels.shape)}"
        )
    if labels.shape[2:] != query.shape[1:]:
        raise ValueError(f"labels grid {tuple(labels.shape[2:])} != {tuple(query.shape[1:])}")
    dim, h, w = query.shape
    if transpose is None:
        plan = plan_layout((h, w), radius, keys.shape[0], dim, memory_budget, query.device.type)
        transpose, tile = plan.transpose, tile or plan.tile  # tile None -> planned
    order = (2, 1, 0) if transpose else (1, 2, 0)  # (D, h, w) -> working (A, B, D)
    q = query.permute(*order).contiguous()
    k = keys.permute(0, *(i + 1 for i in order)).contiguous()  # (C, A, B, D)
    lab = labels.permute(0, *(i + 1 for i in order)).reshape(-1, labels.shape[1])
    (out,) = propagate_windowed(
        q,
        list(k),
        lab,
        radius=radius,
        topk=topk,
        temperature=temperature,
        tile=tile,
        memory_budget=memory_budget,
        compute_dtype=compute_dtype,
    )  # (A, B, L)
    return out.permute(2, 1, 0) if transpose else out.permute(2, 0, 1)
