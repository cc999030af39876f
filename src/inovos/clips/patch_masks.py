"""Patch masks for the in-generative losses (L_mim, L_aff).

Per iteration: with probability ``no_mask_prob`` (0.5) nothing is masked; otherwise
a ratio r ~ U(0.1, 0.5) gives M = int(r * N) masked positions out of the N patches
of a global crop. The original shares ONE set of positions across all samples and
frames; per-sample positions with the shared count M are an option. Every rank must
use the same M (tensor shapes): :func:`sync_mask_count` broadcasts rank 0's count.
"""

from __future__ import annotations

import torch


def num_patches(global_size: int, patch_size: int) -> int:
    """N = (global_size / patch_size)^2 patch positions of a global crop."""
    if global_size % patch_size:
        raise ValueError(f"global size {global_size} is not a multiple of patch {patch_size}")
    return (global_size // patch_size) ** 2


def sample_mask_count(
    n_patches: int,
    generator: torch.Generator | None = None,
    *,
    no_mask_prob: float = 0.5,
    ratio: tuple[float, float] = (0.1, 0.5),
) -> int:
    """Number M of masked positions for one iteration (0: no mask).

    Draws two uniforms from ``generator``: one for the no-mask coin, one for r.
    """
    draws = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
    if draws[0] < no_mask_prob:
        return 0
    r = ratio[0] + (ratio[1] - ratio[0]) * draws[1]
    return int(r * n_patches)


def sync_mask_count(count: int, device: torch.device | str = "cpu") -> int:
    """Rank 0's count on every rank when torch.distributed is initialised (else ``count``).

    Args:
        count: this rank's count.
        device: device of the broadcast tensor (``cuda`` for NCCL, ``cpu`` for gloo).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return count
    value = torch.tensor([count], dtype=torch.int64, device=device)
    dist.broadcast(value, src=0)
    return int(value.item())


def make_patch_mask(
    count: int,
    clip_len: int,
    batch_size: int,
    n_patches: int,
    generator: torch.Generator | None = None,
    *,
    per_sample: bool = False,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Boolean mask with exactly ``count`` True positions per (frame, sample).

    Args:
        count: masked positions M (0 gives an all-False mask).
        clip_len: T.
        batch_size: B.
        n_patches: N.
        generator: CPU random source for the positions.
        per_sample: False: one set of positions shared by every frame and sample (the
            original); True: independent positions per (frame, sample).
        device: device of the result.

    Returns:
        (T, B, N) bool.
    """
    if not 0 <= count <= n_patches:
        raise ValueError(f"mask count {count} outside [0, {n_patches}]")
    rows = clip_len * batch_size if per_sample else 1
    scores = torch.rand(rows, n_patches, generator=generator)
    chosen = scores.argsort(dim=1)[:, :count]
    mask = torch.zeros(rows, n_patches, dtype=torch.bool)
    mask.scatter_(1, chosen, True)
    mask = mask.expand(clip_len * batch_size, n_patches) if rows == 1 else mask
    return mask.reshape(clip_len, batch_size, n_patches).to(device)


def sample_patch_mask(
    clip_len: int,
    batch_size: int,
    n_patches: int,
    generator: torch.Generator | None = None,
    *,
    no_mask_prob: float = 0.5,
    ratio: tuple[float, float] = (0.1, 0.5),
    per_sample: bool = False,
    sync: bool = True,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """One iteration's mask: count (synchronised across ranks if ``sync``) then positions.

    Returns:
        (T, B, N) bool; all False when the iteration draws no mask.
    """
    count = sample_mask_count(n_patches, generator, no_mask_prob=no_mask_prob, ratio=ratio)
    if sync:
        count = sync_mask_count(count, device)
    return make_patch_mask(
        count, clip_len, batch_size, n_patches, generator, per_sample=per_sample, device=device
    )
