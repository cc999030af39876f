"""DAVIS-2017 semi-supervised reader.

Layout::

    <root>/JPEGImages/<resolution>/<seq>/00000.jpg
    <root>/Annotations/<resolution>/<seq>/00000.png   palette PNG, 255 = void
    <root>/ImageSets/2017/<split>.txt                 one sequence name per line
"""

from __future__ import annotations

from pathlib import Path

from inovos.errors import InovosError
from inovos.formats.davis import read_split, split_path
from inovos.formats.images import list_images
from inovos.vos.sequence import (
    FileSequence,
    SequenceCollection,
    check_annotation_size,
    common_frame_size,
    object_ids_in,
    read_annotation,
)


class DavisDataset(SequenceCollection):
    """The sequences of one DAVIS-2017 split, each opened (and validated) on access.

    The folders of every listed sequence are checked up front; frames and ground
    truth are checked from their headers when a sequence is opened and decoded only
    when read. Semi-supervised protocol: `annotation(i)` of a sequence is the
    frame-0 annotation for i == 0 and None for every later frame; the ground truth
    of all frames is available separately through `ground_truth(i)`.

    Args:
        root: DAVIS root folder (holding JPEGImages, Annotations, ImageSets).
        split: name of the split file in ImageSets/2017 ("val", "train", ...).
        resolution: "480p" or "Full-Resolution".
    """

    def __init__(self, root: str | Path, split: str = "val", resolution: str = "480p") -> None:
        self.root = Path(root)
        self.split = split
        if not self.root.is_dir():
            raise InovosError(f"{self.root}: DAVIS root folder not found")
        self.frames_root = self.root / "JPEGImages" / resolution
        self.annotations_root = self.root / "Annotations" / resolution
        for folder in (self.frames_root, self.annotations_root):
            if not folder.is_dir():
                raise InovosError(f"{folder}: DAVIS folder not found")
        self.split_file = split_path(self.root, split)
        self.names = read_split(self.split_file)
        for name in self.names:
            for folder in (self.frames_root / name, self.annotations_root / name):
                if not folder.is_dir():
                    raise InovosError(
                        f"{folder}: sequence {name} of {self.split_file.name} has no folder"
                    )

    def sequence(self, name: str) -> FileSequence:
        """Open one sequence (headers checked, pixels not decoded except frame 0's mask).

        Raises:
            InovosError: unknown name, no frames, no first-frame annotation, sizes
                that differ, unreadable images, or no object in the first frame.
        """
        if name not in self.names:
            raise InovosError(f"{self.split_file}: no sequence named {name!r}")
        frames_dir = self.frames_root / name
        annotations_dir = self.annotations_root / name
        frames = list_images(frames_dir)
        if not frames:
            raise InovosError(f"{frames_dir}: sequence has no frames (.jpg/.png)")
        size = common_frame_size(frames)
        available = {p.stem: p for p in annotations_dir.glob("*.png")}
        ground_truth = {i: available[f.stem] for i, f in enumerate(frames) if f.stem in available}
        if 0 not in ground_truth:
            raise InovosError(
                f"{annotations_dir / (frames[0].stem + '.png')}: first-frame annotation not found"
            )
        for path in ground_truth.values():
            check_annotation_size(path, size)
        ids = object_ids_in(read_annotation(ground_truth[0], size))
        if not ids:
            raise InovosError(f"{ground_truth[0]}: first-frame annotation contains no object")
        return FileSequence(
            name=name,
            frame_paths=tuple(frames),
            frame_size=size,
            annotation_paths={0: ground_truth[0]},
            object_ids=ids,
            first_frame_of=dict.fromkeys(ids, 0),
            output_frames=tuple(f.stem for f in frames),
            ground_truth_paths=ground_truth,
        )
