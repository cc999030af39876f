"""What the atomic writer costs: label PNGs and a checkpoint, atomic vs a plain write.

Writes the same files twice into one folder, alternating the two ways file by file so
that a loaded machine slows both alike, and prints milliseconds per file and the ratio.
The atomic way adds a temporary name, an fsync of the file, a rename and an fsync of
the folder.

    python benchmarks/atomic_write.py [--pngs 300] [--size 480x854] [--folder DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inovos.formats.palette import davis_palette, write_label_png
from inovos.train.checkpoint import atomic_save


def plain_png(path: Path, labels: np.ndarray) -> None:
    """The reference: PIL straight to the final name (no temp file, no fsync)."""
    image = Image.fromarray(labels, mode="P")
    image.putpalette(davis_palette().tobytes())
    image.save(path, optimize=False)


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pngs", type=int, default=300)
    p.add_argument("--size", default="480x854", help="HxW of the label maps")
    p.add_argument("--checkpoints", type=int, default=5)
    p.add_argument("--checkpoint-mib", type=float, default=64.0)
    p.add_argument("--folder", default=None, help="where to write (default: a temp folder)")
    args = p.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    labels = np.zeros((h, w), np.uint8)
    labels[h // 4 : h // 2, w // 4 : w // 2] = 1  # blobs, like object masks
    labels[h // 2 :, w // 2 :] = 2 + (rng.random((h - h // 2, w - w // 2)) > 0.98)
    state = {"w": torch.randn(int(args.checkpoint_mib * 2**20 / 4))}

    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        root = Path(tmp)
        times = {"png plain": 0.0, "png atomic": 0.0, "ckpt plain": 0.0, "ckpt atomic": 0.0}
        for i in range(args.pngs):
            times["png plain"] += _timed(partial(plain_png, root / f"p{i:05d}.png", labels))
            times["png atomic"] += _timed(partial(write_label_png, root / f"a{i:05d}.png", labels))
        for i in range(args.checkpoints):
            times["ckpt plain"] += _timed(partial(torch.save, state, root / f"p{i}.pth"))
            times["ckpt atomic"] += _timed(partial(atomic_save, state, root / f"a{i}.pth"))

    print(f"folder: {args.folder or tempfile.gettempdir()}  label maps {h}x{w}")
    print(f"{'file':<26}{'plain ms':>10}{'atomic ms':>11}{'ratio':>8}")
    for name, n in (("png", args.pngs), ("ckpt", args.checkpoints)):
        plain, atomic = 1e3 * times[f"{name} plain"] / n, 1e3 * times[f"{name} atomic"] / n
        label = "label PNG" if name == "png" else f"checkpoint {args.checkpoint_mib:g} MiB"
        print(f"{label:<26}{plain:>10.2f}{atomic:>11.2f}{atomic / plain:>8.2f}")


if __name__ == "__main__":
    main()
