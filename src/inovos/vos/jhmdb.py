"""JHMDB keypoint videos as the label-propagation papers read them.

Layout (as published)::

    <root>/Rename_Images/<class>/<video>/00001.png      frames
    <root>/joint_positions/<class>/<video>/joint_positions.mat
    <root>/splits/<class>_test_split1.txt               "<video>.avi 1|2" (2 = test)

``joint_positions.mat`` holds ``pos_img``: (2, 15, T) float, the (x, y) position of each
of the 15 puppet joints in frame t, in 1-based pixel coordinates. The videos to score
are, in this order of preference: a list file given by the user, ``<root>/testlist_split1.txt``
(the list CRW, UVC and TimeCycle read: one "FRAMES_DIR MAT_FILE" pair per line, paths
absolute or relative to the root), or the test videos of the official split-1 files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inovos.errors import InovosError
from inovos.formats.images import list_images, read_rgb
from inovos.formats.joints import MAT_NAME, read_joint_positions
from inovos.vos.sequence import common_frame_size

LIST_FILE = "testlist_split1.txt"


@dataclass(frozen=True, eq=False)
class JhmdbVideo:
    """One JHMDB video: frame files and ground-truth joints.

    Attributes:
        name: "<class>/<video>" (the last two folders of the frames).
        frame_paths: one image per frame, in order.
        frame_size: (H, W) of the frames.
        positions: (2, 15, T) ``pos_img`` as stored (1-based pixel x, y).
        mat_path: the ``joint_positions.mat`` it came from.
    """

    name: str
    frame_paths: tuple[Path, ...] = field(repr=False)
    frame_size: tuple[int, int]
    positions: np.ndarray = field(repr=False)
    mat_path: Path

    @property
    def num_frames(self) -> int:
        """Number of frames."""
        return len(self.frame_paths)

    def frame(self, i: int) -> np.ndarray:
        """Frame i, decoded now: (H, W, 3) uint8 RGB."""
        return read_rgb(self.frame_paths[i], self.frame_size)

    def joints(self) -> np.ndarray:
        """Ground truth as (T, 15, 2) 0-based pixel (x, y) (``pos_img`` - 1)."""
        return np.transpose(self.positions, (2, 1, 0)) - 1.0


def check_joints_in_frames(path: Path, positions: np.ndarray, size: tuple[int, int]) -> None:
    """Refuse joints that cannot belong to these frames: a frame whose 15 joints all lie
    outside the image (wrong video, or coordinates not 1-based pixels of these frames).

    Raises:
        InovosError: naming the first such frame.
    """
    height, width = size
    x, y = positions[0] - 1.0, positions[1] - 1.0  # (15, T) 0-based
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    empty = np.flatnonzero(~inside.any(axis=0))
    if empty.size:
        t = int(empty[0])
        raise InovosError(
            f"{path}: all joints of frame {t + 1} lie outside the {width}x{height} image "
            "(pos_img must hold 1-based pixel positions in these frames)"
        )


class JhmdbDataset:
    """The JHMDB videos to score (module docstring), each opened and checked on access.

    Args:
        root: JHMDB root folder.
        list_file: a "FRAMES_DIR MAT_FILE" list (default: ``<root>/testlist_split1.txt``
            if present, else the official split-1 test videos).
    """

    def __init__(self, root: str | Path, list_file: str | Path | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InovosError(f"{self.root}: JHMDB root folder not found")
        default = self.root / LIST_FILE
        if list_file is not None or default.is_file():
            pairs = _read_list(Path(list_file) if list_file is not None else default, self.root)
        else:
            pairs = _official_split(self.root)
        self._pairs = {_video_name(frames): (frames, mat) for frames, mat in pairs}
        if len(self._pairs) != len(pairs):
            raise InovosError(f"{self.root}: the video list names a video twice")
        self.names = tuple(self._pairs)

    def sequence(self, name: str) -> JhmdbVideo:
        """Open one video: frames listed and sized from headers, joints read and checked."""
        if name not in self._pairs:
            raise InovosError(f"{self.root}: no JHMDB video named {name!r}")
        frames_dir, mat_path = self._pairs[name]
        if not frames_dir.is_dir():
            raise InovosError(f"{frames_dir}: frames folder of {name} not found")
        frames = list_images(frames_dir)
        if not frames:
            raise InovosError(f"{frames_dir}: video has no frames (.png/.jpg)")
        size = common_frame_size(frames)
        positions = read_joint_positions(mat_path)
        check_joints_in_frames(mat_path, positions, size)
        return JhmdbVideo(name, tuple(frames), size, positions, mat_path)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[JhmdbVideo]:
        return (self.sequence(name) for name in self.names)


def _video_name(frames_dir: Path) -> str:
    return f"{frames_dir.parent.name}/{frames_dir.name}"


def _read_list(path: Path, root: Path) -> list[tuple[Path, Path]]:
    if not path.is_file():
        raise InovosError(f"{path}: JHMDB list file not found")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise InovosError(f"{path}:{number}: expected 'FRAMES_DIR MAT_FILE', got {line!r}")
        frames, mat = (root / f for f in fields)  # absolute paths stay absolute
        pairs.append((frames, mat if mat.suffix == ".mat" else mat / MAT_NAME))
    if not pairs:
        raise InovosError(f"{path}: list file names no video")
    return pairs


def _official_split(root: Path) -> list[tuple[Path, Path]]:
    splits = sorted((root / "splits").glob("*_test_split1.txt"))
    if not splits:
        raise InovosError(
            f"{root}: no {LIST_FILE} and no splits/*_test_split1.txt: "
            "not a JHMDB root (give --jhmdb-list FILE)"
        )
    pairs = []
    for split in splits:
        action = split.name[: -len("_test_split1.txt")]
        for line in split.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[1] == "2":
                video = Path(fields[0]).stem
                pairs.append(
                    (
                        root / "Rename_Images" / action / video,
                        root / "joint_positions" / action / video / MAT_NAME,
                    )
                )
    if not pairs:
        raise InovosError(f"{root / 'splits'}: the split-1 files list no test video")
    return pairs
