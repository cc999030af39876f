"""Train a ViT with INO (In-N-Out generative learning) on unlabelled videos.

The config is built from the defaults (the paper's Charades ViT-S/8 settings), then
--preset, then --config FILE.yaml, then --data/--output, then KEY=VALUE overrides
(any field, e.g. optim.epochs=5 run.max_minutes=30). The resolved config is written
to OUTPUT/config.yaml beside checkpoint.pth (saved every epoch, every
run.save_every_iters steps and when a budget stops the run), log.jsonl,
TensorBoard events (OUTPUT/tb) and one picture of the views per epoch.

One process:      inovos train --preset tiny-cpu --data videos.txt --output runs/tiny
Several GPUs:     torchrun --nproc_per_node 4 --no-python inovos train --preset charades-vits8 ...
Several nodes:    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d \\
                    --rdzv-endpoint HOST:29500 --no-python inovos train ...
Continue a run:   inovos train --output runs/tiny --resume [run.max_iters=2000]
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inovos.config import TrainConfig

HELP = "train a ViT with INO on unlabelled videos (one process or under torchrun)"


def _config_keys_epilog() -> str:
    from inovos.config import FIELD_HELP, PRESETS, TrainConfig

    lines = ["config keys (KEY=VALUE overrides; the defaults are the paper's settings):"]
    config = TrainConfig()
    for section in dataclasses.fields(config):
        values = getattr(config, section.name)
        for f in dataclasses.fields(values):
            key = f"{section.name}.{f.name}"
            setting = f"{key}={getattr(values, f.name)!r}"
            lines.append(f"  {setting:<34} {FIELD_HELP.get(key, '')}".rstrip())
    lines.append("presets: " + ", ".join(PRESETS) + " (--print-config shows the result)")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``inovos train``."""
    from inovos.config import PRESETS

    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="named settings applied on the defaults: charades-vits8 / kinetics400-vits8 "
        "(paper), tiny-cpu (a small ViT that trains on a laptop CPU)",
    )
    parser.add_argument(
        "--config", metavar="FILE.yaml", help="YAML config (sections as in config.yaml)"
    )
    parser.add_argument(
        "--data",
        metavar="LIST_OR_FOLDER",
        help="training videos: a list file (one path per line, first comma field), a folder "
        "of videos, or a folder of frame folders (data.source)",
    )
    parser.add_argument("--output", metavar="DIR", help="run folder (run.output_dir)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from DIR/checkpoint.pth (refused when there is none); without "
        "--preset/--config the run's own config (DIR/config.yaml over the copy saved in "
        "the checkpoint) is the base config",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config as YAML and exit"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (log.jsonl is still written)"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides such as optim.epochs=5 run.max_iters=100 (see the list below)",
    )
    parser.epilog = _config_keys_epilog()


def resolve_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the command line asks for."""
    from inovos.config import resolve_config

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data.source={args.data}")
    if args.output:
        overrides.append(f"run.output_dir={args.output}")
    base = None
    if args.resume and not args.preset and not args.config:
        from inovos.train.checkpoint import saved_run_config

        out = args.output or resolve_config(None, list(args.overrides)).run.output_dir
        base = saved_run_config(out)
    return resolve_config(args.preset, overrides, args.config, base=base)


def run(args: argparse.Namespace) -> int:
    """Resolve the config, train, print a summary (rank 0)."""
    import sys

    import yaml

    from inovos.config import config_to_dict
    from inovos.train.distributed import dist_info_from_env
    from inovos.train.main import train

    config = resolve_from_args(args)
    if args.print_config:
        yaml.safe_dump(config_to_dict(config), sys.stdout, sort_keys=False)
        return 0
    summary = train(config, resume=args.resume, progress=not args.no_progress)
    if dist_info_from_env().is_main:
        p = summary.position
        loss = summary.last.get("loss")
        shown = f", last loss {loss:.4f}" if loss is not None else ""
        print(
            f"training {summary.stop_reason} at epoch {p.epoch}, step {p.iter_in_epoch} "
            f"({p.iteration} steps){shown}; checkpoint {summary.checkpoint}"
        )
    return 0
