"""Spread the sequences of an evaluation over processes: torchrun ranks or job-array shards.

Every process computes the same assignment: sequences sorted by cost (frames x height x
width), longest first, each given to the least loaded shard (ties: the lower shard).
Under torchrun (``WORLD_SIZE`` > 1) the ranks join a gloo group, each on its own device
(``cuda:LOCAL_RANK`` when CUDA is used), and rank 0 finishes the run (zip, scores) after
a barrier. ``--shard I/N`` runs shard I of N alone (a SLURM array task); a final step
without ``--shard`` checks that every sequence is there.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inovos.errors import InovosError
from inovos.vos.sequence import VideoSequence

# Ranks that finish early wait at the final barrier for the slowest one.
BARRIER_TIMEOUT = datetime.timedelta(hours=48)


@dataclass(frozen=True)
class Shard:
    """This process's part of the sequences.

    Attributes:
        index: shard (rank) number, 0-based.
        count: number of shards.
        distributed: True under torchrun (a gloo group joins the ranks).
        local_rank: the rank on this node (torchrun), for the CUDA device.
    """

    index: int
    count: int
    distributed: bool = False
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process finishes the run (zip, scores, summary)."""
        return self.index == 0


def sequence_cost(seq: VideoSequence) -> int:
    """Work of a sequence: frames x height x width."""
    return seq.num_frames * seq.frame_size[0] * seq.frame_size[1]


def assign_shards(costs: Sequence[int], count: int) -> list[int]:
    """Greedy longest-first: the shard of every item, balancing the summed costs.

    Items are taken by decreasing cost (ties: input order) and each goes to the
    shard with the smallest total so far (ties: the lower shard).
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    loads = [0] * count
    shard_of = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda k: (-costs[k], k)):
        target = min(range(count), key=lambda s: (loads[s], s))
        shard_of[i] = target
        loads[target] += costs[i]
    return shard_of


def my_sequences(sequences: Sequence[VideoSequence], shard: Shard) -> list[VideoSequence]:
    """The sequences of ``shard``, in their original order."""
    owners = assign_shards([sequence_cost(s) for s in sequences], shard.count)
    return [s for s, owner in zip(sequences, owners, strict=True) if owner == shard.index]


def parse_shard(text: str) -> Shard:
    """``"I/N"`` (0 <= I < N) -> Shard(I, N).

    Raises:
        InovosError: anything else.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise InovosError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return Shard(int(match[1]), int(match[2]))


def torchrun_shard() -> Shard | None:
    """The rank's shard when started by torchrun with more than one process, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    rank = int(os.environ.get("RANK", "0"))
    return Shard(rank, world, distributed=True, local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def join_group(shard: Shard) -> None:
    """Join torchrun's gloo group (used only for barriers and small gathers)."""
    import torch.distributed as dist

    if shard.distributed and not dist.is_initialized():
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)


def gather(shard: Shard, value: Any) -> list[Any]:
    """Every rank's ``value`` on every rank (after all have arrived), or ``[value]``."""
    if not shard.distributed:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * shard.count
    dist.all_gather_object(out, value)
    return out


def leave_group(shard: Shard) -> None:
    """Leave the gloo group."""
    import torch.distributed as dist

    if shard.distributed and dist.is_initialized():
        dist.destroy_process_group()


def missing_sequences(
    sequences: Sequence[VideoSequence], out_root: os.PathLike[str] | str
) -> list[str]:
    """Names of the sequences whose output masks are not all in ``out_root/<name>/``."""
    from pathlib import Path

    root = Path(out_root)
    return [
        s.name
        for s in sequences
        if not all((root / s.name / f"{f}.png").is_file() for f in s.output_frames)
    ]


def check_complete(sequences: Sequence[VideoSequence], out_root: os.PathLike[str] | str) -> None:
    """Refuse to finish (zip, score) a results folder with sequences missing.

    Raises:
        InovosError: one line naming the incomplete sequences.
    """
    missing = missing_sequences(sequences, out_root)
    if missing:
        shown = ", ".join(missing[:10]) + (
            f", ... ({len(missing)} in all)" if len(missing) > 10 else ""
        )
        raise InovosError(
            f"{out_root}: {len(missing)} of {len(sequences)} sequences incomplete: {shown} "
            "(a shard that has not run or failed; run it, or propagate without --shard)"
        )
