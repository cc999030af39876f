"""The video-sequence Protocol: any object with its members works; the file-backed type."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inovos.errors import InovosError
from inovos.vos.sequence import FileSequence, VideoSequence
from inovos.vos.video_file import first_frames

SIZE = (4, 6)


class _InMemory:
    """A sequence held in arrays: implements the Protocol without inheriting anything."""

    def __init__(self, frames: np.ndarray, given: dict[int, np.ndarray]) -> None:
        self.name = "memory"
        self.frame_size = SIZE
        self.num_frames = len(frames)
        self.frame_names = tuple(f"{i:05d}" for i in range(len(frames)))
        self.output_frames = self.frame_names
        first: dict[int, int] = {}
        for t in sorted(given):
            for k in np.unique(given[t]).tolist():
                if k != 0:
                    first.setdefault(int(k), t)
        self.first_frame_of: Mapping[int, int] = first
        self.object_ids = tuple(sorted(first))
        self._frames, self._given = frames, given

    def frame(self, i: int) -> np.ndarray:
        return self._frames[i]

    def annotation(self, i: int) -> np.ndarray | None:
        return self._given.get(i % self.num_frames)

    def ground_truth(self, i: int) -> np.ndarray | None:
        return self._given.get(i % self.num_frames)


def _ids(value: int, t: int) -> np.ndarray:
    labels = np.zeros(SIZE, np.uint8)
    labels[t % SIZE[0], :2] = value
    return labels


def test_first_frames_cuts_any_implementation_and_drops_late_objects() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (6, *SIZE, 3), dtype=np.uint8)
    given = {0: _ids(1, 0), 2: _ids(2, 2), 4: _ids(3, 4)}
    seq: VideoSequence = _InMemory(frames, given)
    head = first_frames(seq, 3)
    assert head.num_frames == 3 and head.frame_names == ("00000", "00001", "00002")
    assert head.object_ids == (1, 2) and dict(head.first_frame_of) == {1: 0, 2: 2}
    assert head.output_frames == ("00000", "00001", "00002")
    np.testing.assert_array_equal(head.frame(-1), frames[2])
    np.testing.assert_array_equal(head.annotation(2), given[2])
    np.testing.assert_array_equal(head.ground_truth(0), given[0])
    with pytest.raises(IndexError, match="frame 3 out of range for memory"):
        head.frame(3)
    with pytest.raises(InovosError, match="no object is annotated in the first 1 frames"):
        first_frames(_InMemory(frames, {2: _ids(2, 2)}), 1)


def _file_sequence(tmp_path: Path, mask: np.ndarray, binary: bool) -> FileSequence:
    frames = []
    for i in range(3):
        path = tmp_path / f"{i:05d}.png"
        Image.fromarray(np.full((*SIZE, 3), 40 * i, np.uint8)).save(path)
        frames.append(path)
    Image.fromarray(mask, mode="L").save(tmp_path / "mask.png")
    return FileSequence(
        name="files",
        frame_paths=tuple(frames),
        frame_size=SIZE,
        annotation_paths={0: tmp_path / "mask.png"},
        object_ids=(1,),
        first_frame_of={1: 0},
        output_frames=("00000", "00002"),
        ground_truth_paths={0: tmp_path / "mask.png"},
        binary_mask=binary,
    )


@pytest.mark.parametrize("binary", [False, True])
def test_file_sequence_reads_files_and_binary_masks(tmp_path: Path, binary: bool) -> None:
    mask = np.zeros(SIZE, np.uint8)
    mask[0, :3] = 1
    mask[1, :3] = 255  # void, or object 1 in a 0/255 mask
    seq = _file_sequence(tmp_path, mask, binary)
    assert seq.num_frames == 3 and seq.frame_names == ("00000", "00001", "00002")
    np.testing.assert_array_equal(seq.frame(2), np.full((*SIZE, 3), 80, np.uint8))
    given = seq.annotation(-3)
    assert given is not None and seq.annotation(1) is None
    expected = np.where(mask == 255, 1, mask) if binary else mask
    np.testing.assert_array_equal(given, expected)
    np.testing.assert_array_equal(seq.ground_truth(0), mask)  # ground truth keeps its void
    with pytest.raises(IndexError):
        seq.annotation(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        seq.name = "other"  # type: ignore[misc]


def test_file_sequence_rejects_inconsistent_metadata(tmp_path: Path) -> None:
    seq = _file_sequence(tmp_path, np.ones(SIZE, np.uint8), False)
    with pytest.raises(ValueError, match="frame 1 introduces objects but has no annotation"):
        dataclasses.replace(seq, object_ids=(1, 2), first_frame_of={1: 0, 2: 1})
    with pytest.raises(ValueError, match="output_frames must be frame names"):
        dataclasses.replace(seq, output_frames=("nope",))
