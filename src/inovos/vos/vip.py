"""VIP (Video Instance-level Parsing) part-label videos as the propagation papers read them.

Layout (VIP_Fine as published; CRW's copy keeps ``Category_ids`` at the top)::

    <root>/Images/<video>/<frame>.jpg
    <root>/Annotations/Category_ids/<video>/<frame>.png   (or <root>/Category_ids/...)
    <root>/lists/val_videos.txt                           one video name per line

Category PNGs hold class ids 0..19 (0 = background) as palette indices; 255 marks
pixels to ignore. Any other id is refused. The videos are the user's list file, else
``lists/val_videos.txt``, else every folder of ``Images``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inovos.errors import InovosError
from inovos.formats.images import list_images, read_rgb
from inovos.formats.parts import read_category_png
from inovos.vos.sequence import check_annotation_size, common_frame_size


@dataclass(frozen=True, eq=False)
class VipVideo:
    """One VIP video: frames and the category maps that exist for them.

    Attributes:
        name: video folder name.
        frame_paths: one image per frame, in order.
        frame_size: (H, W).
        label_paths: frame index -> category PNG (frame 0 always present).
    """

    name: str
    frame_paths: tuple[Path, ...] = field(repr=False)
    frame_size: tuple[int, int]
    label_paths: dict[int, Path] = field(repr=False)

    @property
    def num_frames(self) -> int:
        """Number of frames."""
        return len(self.frame_paths)

    @property
    def frame_names(self) -> tuple[str, ...]:
        """Frame file names without extension."""
        return tuple(p.stem for p in self.frame_paths)

    def frame(self, i: int) -> np.ndarray:
        """Frame i, decoded now: (H, W, 3) uint8 RGB."""
        return read_rgb(self.frame_paths[i], self.frame_size)

    def labels(self, i: int) -> np.ndarray:
        """Category ids of frame i (which must have a PNG): (H, W) uint8."""
        return read_category_png(self.label_paths[i], self.frame_size)


class VipDataset:
    """The VIP videos to propagate and score (module docstring).

    Args:
        root: VIP root (holding ``Images``).
        list_file: video names, one per line (default ``lists/val_videos.txt``, else all).
    """

    def __init__(self, root: str | Path, list_file: str | Path | None = None) -> None:
        self.root = Path(root)
        self.images = self.root / "Images"
        if not self.images.is_dir():
            raise InovosError(f"{self.images}: VIP Images folder not found")
        nested = self.root / "Annotations" / "Category_ids"
        self.categories = nested if nested.is_dir() else self.root / "Category_ids"
        if not self.categories.is_dir():
            raise InovosError(f"{nested}: VIP category folder not found (nor {self.categories})")
        default = self.root / "lists" / "val_videos.txt"
        if list_file is not None or default.is_file():
            path = Path(list_file) if list_file is not None else default
            if not path.is_file():
                raise InovosError(f"{path}: VIP list file not found")
            lines = path.read_text(encoding="utf-8").split()
            self.names = tuple(dict.fromkeys(line.strip() for line in lines if line.strip()))
        else:
            self.names = tuple(sorted(p.name for p in self.images.iterdir() if p.is_dir()))
        if not self.names:
            raise InovosError(f"{self.root}: no VIP video to process")

    def sequence(self, name: str) -> VipVideo:
        """Open one video (headers checked; the first frame's categories read and checked)."""
        if name not in self.names:
            raise InovosError(f"{self.root}: no VIP video named {name!r}")
        frames = list_images(self.images / name)
        if not frames:
            raise InovosError(f"{self.images / name}: video has no frames")
        size = common_frame_size(frames)
        available = {p.stem: p for p in (self.categories / name).glob("*.png")}
        labels = {i: available[f.stem] for i, f in enumerate(frames) if f.stem in available}
        if 0 not in labels:
            raise InovosError(
                f"{self.categories / name / (frames[0].stem + '.png')}: "
                "first-frame category map not found"
            )
        for path in labels.values():
            check_annotation_size(path, size)
        read_category_png(labels[0], size)
        return VipVideo(name, tuple(frames), size, labels)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[VipVideo]:
        return (self.sequence(name) for name in self.names)
