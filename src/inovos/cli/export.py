"""Export the ViT backbone of a training checkpoint as a weights file (safetensors).

The file is what ``inovos propagate --model`` loads. INO evaluates the student
(the default); ``--which teacher`` exports the EMA teacher instead.

Example:
  inovos export runs/tiny/checkpoint.pth runs/tiny/student.safetensors
"""

from __future__ import annotations

import argparse

HELP = "write a training checkpoint's backbone as a .safetensors weights file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``inovos export``."""
    parser.add_argument("checkpoint", help="training checkpoint (checkpoint.pth of a run)")
    parser.add_argument("out", help="output weights file, e.g. student.safetensors")
    parser.add_argument(
        "--which",
        choices=("student", "teacher"),
        default="student",
        help="network to export (default: student, the one INO evaluates)",
    )


def run(args: argparse.Namespace) -> int:
    """Export and print where the weights went."""
    from inovos.train.export import export_backbone

    out = export_backbone(args.checkpoint, args.out, args.which)
    print(f"wrote {args.which} backbone to {out}")
    return 0
