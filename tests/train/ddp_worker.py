"""Launched by test_distributed.py under torchrun: train as configured, dump each rank's weights.

Usage: python -m torch.distributed.run --nproc_per_node 2 --standalone ddp_worker.py CONFIG DUMP_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

import inovos.train.main as train_main
from inovos.config import resolve_config


def main(config_path: str, dump_dir: str) -> None:
    """Train with the real entry point; every checkpoint save also dumps this rank's weights."""
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    original = train_main.save_checkpoint

    def save_and_dump(parts, position):  # type: ignore[no-untyped-def]
        path = original(parts, position)
        torch.save(parts.state.model.state_dict(), Path(dump_dir) / f"rank{rank}.pt")
        return path

    train_main.save_checkpoint = save_and_dump
    train_main.train(resolve_config(config_file=config_path))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
