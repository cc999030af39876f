"""The common type of every VOS reader (a Protocol) and its plain file-backed implementation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from inovos.errors import InovosError
from inovos.formats.images import image_size, read_rgb
from inovos.formats.mask_colours import read_mask
from inovos.formats.palette import VOID_ID


class VideoSequence(Protocol):
    """A video to segment and the labels given for it; pixels are read on demand.

    Implementations: `FileSequence` (frames and annotations as image files: DAVIS,
    YouTube-VOS, frame folders), `VideoFileSequence` (a video file decoded lazily)
    and the cut that `first_frames` returns.
    """

    @property
    def name(self) -> str:
        """Sequence / video name."""

    @property
    def frame_size(self) -> tuple[int, int]:
        """(H, W) of every frame and annotation."""

    @property
    def num_frames(self) -> int:
        """Number of frames."""

    @property
    def frame_names(self) -> tuple[str, ...]:
        """Frame names without extension, e.g. ("00000", "00001", ...)."""

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Sorted ids of the objects to segment (never 0 or 255)."""

    @property
    def first_frame_of(self) -> Mapping[int, int]:
        """Object id -> index of the frame whose annotation introduces it."""

    @property
    def output_frames(self) -> tuple[str, ...]:
        """Names of the frames whose predictions must be written."""

    def frame(self, i: int) -> np.ndarray:
        """Frame i, decoded now: (H, W, 3) uint8 RGB."""
        ...

    def annotation(self, i: int) -> np.ndarray | None:
        """The annotation given for frame i: (H, W) uint8 ids (255 = void), or None."""
        ...

    def ground_truth(self, i: int) -> np.ndarray | None:
        """Ground truth of frame i for evaluation: (H, W) uint8 ids, or None if unknown."""
        ...


@dataclass(frozen=True, eq=False)
class FileSequence:
    """A `VideoSequence` whose frames and annotations are image files.

    Nothing is decoded when the sequence is built except what the readers need to
    validate it (image headers, first-appearance annotations), so a long video
    never sits in memory. Built by `DavisDataset`, `YouTubeVOSDataset` and
    `open_folder`.

    Attributes:
        name: sequence / video name.
        frame_paths: one image file per frame, in temporal order.
        frame_size: (H, W) of every frame and annotation.
        annotation_paths: frame index -> PNG of the annotation GIVEN to the method
            (DAVIS: frame 0 only; YouTube-VOS: the frames where objects first appear).
        object_ids: sorted ids of the objects to segment (never 0 or 255).
        first_frame_of: object id -> index of the frame whose annotation introduces it.
        output_frames: names of the frames whose predictions must be written.
        ground_truth_paths: frame index -> ground-truth PNG for evaluation (DAVIS
            only; empty where the benchmark keeps its ground truth hidden).
        categories: object id -> category name, where the dataset gives one.
        binary_mask: the given annotations are 0/255 masks whose 255 pixels are
            object 1 (not void).
    """

    name: str
    frame_paths: tuple[Path, ...] = field(repr=False)
    frame_size: tuple[int, int]
    annotation_paths: Mapping[int, Path] = field(repr=False)
    object_ids: tuple[int, ...]
    first_frame_of: Mapping[int, int]
    output_frames: tuple[str, ...] = field(repr=False)
    ground_truth_paths: Mapping[int, Path] = field(default_factory=dict, repr=False)
    categories: Mapping[int, str] = field(default_factory=dict, repr=False)
    binary_mask: bool = False

    def __post_init__(self) -> None:
        n = len(self.frame_paths)
        if n == 0:
            raise ValueError(f"sequence {self.name} has no frames")
        if set(self.first_frame_of) != set(self.object_ids):
            raise ValueError(f"sequence {self.name}: first_frame_of must cover object_ids")
        if list(self.object_ids) != sorted(set(self.object_ids)):
            raise ValueError(f"sequence {self.name}: object_ids must be sorted and unique")
        if any(i in (0, VOID_ID) for i in self.object_ids):
            raise ValueError(f"sequence {self.name}: object ids 0 and {VOID_ID} are reserved")
        for t in self.first_frame_of.values():
            if t not in self.annotation_paths:
                raise ValueError(
                    f"sequence {self.name}: frame {t} introduces objects but has no annotation"
                )
        if not set(self.output_frames) <= set(self.frame_names):
            raise ValueError(f"sequence {self.name}: output_frames must be frame names")

    @cached_property
    def frame_names(self) -> tuple[str, ...]:
        """Frame names without extension, e.g. ("00000", "00001", ...)."""
        return tuple(p.stem for p in self.frame_paths)

    @property
    def num_frames(self) -> int:
        """Number of frames."""
        return len(self.frame_paths)

    def frame(self, i: int) -> np.ndarray:
        """Frame i, decoded now: (H, W, 3) uint8 RGB."""
        return read_rgb(self.frame_paths[i], self.frame_size)

    def annotation(self, i: int) -> np.ndarray | None:
        """The annotation given for frame i: (H, W) uint8 ids (255 = void), or None.

        DAVIS gives only frame 0 (None for every later frame, even though ground truth
        exists: use `ground_truth` for evaluation). YouTube-VOS gives the frames where
        objects first appear; `new_objects_at(i)` names the objects it introduces.
        """
        path = self.annotation_paths.get(check_frame_index(self, i))
        if path is None:
            return None
        return read_given_mask(path, self.frame_size, self.binary_mask)

    def ground_truth(self, i: int) -> np.ndarray | None:
        """Ground truth of frame i for evaluation: (H, W) uint8 ids, or None if unknown."""
        path = self.ground_truth_paths.get(check_frame_index(self, i))
        return None if path is None else read_annotation(path, self.frame_size)

    def new_objects_at(self, i: int) -> tuple[int, ...]:
        """Sorted ids of the objects whose first annotation is at frame i."""
        return tuple(k for k in self.object_ids if self.first_frame_of[k] == i)


def check_frame_index(seq: VideoSequence, i: int) -> int:
    """``i`` as an index in [0, num_frames) (negative counts from the end).

    Raises:
        IndexError: i outside [-num_frames, num_frames).
    """
    if not -seq.num_frames <= i < seq.num_frames:
        raise IndexError(f"frame {i} out of range for {seq.name} ({seq.num_frames} frames)")
    return i % seq.num_frames


class SequenceCollection:
    """A dataset's videos by name: ``len``, iteration and ``[index or name]``.

    Subclasses set ``names`` and implement ``sequence(name)``.
    """

    names: tuple[str, ...]

    def sequence(self, name: str) -> VideoSequence:
        """Open one video by name."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[VideoSequence]:
        return (self.sequence(name) for name in self.names)

    def __getitem__(self, key: int | str) -> VideoSequence:
        return self.sequence(self.names[key] if isinstance(key, int) else key)


def read_annotation(path: Path, expected_size: tuple[int, int]) -> np.ndarray:
    """Read an (H, W) uint8 id map and check its size against the frames'.

    Palette / grayscale PNGs give their ids; colour masks (RGB PNG, JPEG) are read as
    ids when unambiguous (``inovos.formats.mask_colours``).

    Raises:
        InovosError: unreadable, ambiguous colours, or of the wrong size.
    """
    labels = read_mask(path)
    if labels.shape != tuple(expected_size):
        raise InovosError(
            f"{path}: annotation is {labels.shape[0]}x{labels.shape[1]} but the frames are "
            f"{expected_size[0]}x{expected_size[1]}"
        )
    return labels


def read_given_mask(path: Path, expected_size: tuple[int, int], binary: bool) -> np.ndarray:
    """`read_annotation`, with 255 read as object 1 when ``binary`` (a 0/255 mask)."""
    labels = read_annotation(path, expected_size)
    if binary:
        labels = np.where(labels == VOID_ID, 1, labels).astype(np.uint8)
    return labels


def object_ids_in(labels: np.ndarray) -> tuple[int, ...]:
    """Sorted object ids present in an id map, without background 0 and void 255."""
    ids = np.unique(labels)
    return tuple(int(i) for i in ids if i not in (0, VOID_ID))


def common_frame_size(paths: Sequence[Path]) -> tuple[int, int]:
    """(H, W) shared by all images, read from headers only.

    Raises:
        InovosError: an image is unreadable or differs in size from the first one.
    """
    size = image_size(paths[0])
    for path in paths[1:]:
        other = image_size(path)
        if other != size:
            raise InovosError(
                f"{path}: frame is {other[0]}x{other[1]} but {paths[0].name} is {size[0]}x{size[1]}"
            )
    return size


def check_annotation_size(path: Path, frame_size: tuple[int, int]) -> None:
    """Compare an annotation's header size with the frame size without decoding it."""
    size = image_size(path)
    if size != tuple(frame_size):
        raise InovosError(
            f"{path}: annotation is {size[0]}x{size[1]} but the frames are "
            f"{frame_size[0]}x{frame_size[1]}"
        )
