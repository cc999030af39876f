"""How far the batched (device) blur of local crops is from Pillow's, on 0-255.

The CPU view path blurs local crops with Pillow's ``GaussianBlur(radius=sigma)`` on
the 8-bit crop, as the original recipe; the batched path applies an exact separable
Gaussian (edge pixels extended) to the float crop. This script blurs random 64 x 64
windows of scikit-image's photos with sigma ~ U(0.1, 2.0) both ways and prints the
absolute difference on the 0-255 scale: over all pixels, inside (more than 6 pixels,
3 sigma at sigma 2, from the crop edge) and at the border, per sigma range.

    python benchmarks/blur_difference.py --crops 600
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from skimage import data as photos

from inovos.clips.photometric import blur_kernel_size, gaussian_blur, pillow_gaussian_blur

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
BORDER = 6


def crops(count: int, size: int, seed: int) -> torch.Tensor:
    """(count, 3, size, size) uint8 windows of the photos."""
    rng = np.random.default_rng(seed)
    images = [getattr(photos, name)() for name in PHOTOS]
    out = []
    for i in range(count):
        image = images[i % len(images)]
        y = rng.integers(image.shape[0] - size + 1)
        x = rng.integers(image.shape[1] - size + 1)
        out.append(torch.from_numpy(image[y : y + size, x : x + size].copy()).permute(2, 0, 1))
    return torch.stack(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", type=int, default=600)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    x = crops(args.crops, args.size, args.seed).float() / 255.0
    sigma = 0.1 + 1.9 * torch.rand(args.crops, generator=torch.Generator().manual_seed(args.seed))
    apply = torch.ones(args.crops, dtype=torch.bool)
    pillow = pillow_gaussian_blur(x, sigma, apply) * 255.0
    batched = gaussian_blur(x, sigma, apply, blur_kernel_size(2.0)) * 255.0
    diff = (batched - pillow).abs()
    inside = torch.zeros(args.size, args.size, dtype=torch.bool)
    inside[BORDER:-BORDER, BORDER:-BORDER] = True
    print(f"{args.crops} crops of {args.size}x{args.size}, |batched - Pillow| on 0-255")
    print("| sigma | crops | max | mean | max inside | mean inside | max border |")
    print("|---|---|---|---|---|---|---|")
    for lo, hi in ((0.1, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0), (0.1, 2.0)):
        sel = (sigma >= lo) & (sigma <= hi)
        d = diff[sel]
        din, dout = d[..., inside], d[..., ~inside]
        print(
            f"| {lo}-{hi} | {int(sel.sum())} | {d.max():.2f} | {d.mean():.3f} | "
            f"{din.max():.2f} | {din.mean():.3f} | {dout.max():.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
