"""YouTube-VOS 2018 reader (valid split) and the submission zip.

Layout::

    <root>/valid/JPEGImages/<vid>/00000.jpg          every 5th frame: the frames to submit
    <root>/valid/Annotations/<vid>/00000.png         only where objects first appear
    <root>/valid/meta.json                           {"videos": {vid: {"objects": {id: ...}}}}
    <root>/valid_all_frames/JPEGImages/<vid>/*.jpg   every frame
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inovos.atomic import atomic_open
from inovos.errors import InovosError
from inovos.formats.images import list_images, natural_key
from inovos.vos.sequence import (
    FileSequence,
    SequenceCollection,
    check_annotation_size,
    common_frame_size,
    object_ids_in,
    read_annotation,
)

logger = logging.getLogger(__name__)

# Per video: object id -> (category, frame names listed for it in meta.json).
_Meta = dict[str, dict[int, tuple[str, list[str]]]]


class YouTubeVOSDataset(SequenceCollection):
    """The videos of a YouTube-VOS split, each opened (and validated) on access.

    Object ids and the frame where each first appears come from the annotation PNGs
    and are cross-checked with meta.json: an object of meta.json without any
    annotation is an error, other disagreements are logged. `output_frames` are the
    frames of `<split>/JPEGImages/<vid>` (the ones a submission must contain).

    Args:
        root: folder holding `<split>/` (and `<split>_all_frames/` if all_frames).
        split: "valid" (or "test", same layout).
        all_frames: read every frame from `<split>_all_frames/JPEGImages`; if False
            only the every-5th-frame subset of `<split>/JPEGImages`.
    """

    def __init__(self, root: str | Path, split: str = "valid", all_frames: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InovosError(f"{self.root}: YouTube-VOS root folder not found")
        split_root = self.root / split
        self.listed_root = split_root / "JPEGImages"
        self.annotations_root = split_root / "Annotations"
        self.frames_root = (
            self.root / f"{split}_all_frames" / "JPEGImages" if all_frames else self.listed_root
        )
        for folder in (self.listed_root, self.annotations_root, self.frames_root):
            if not folder.is_dir():
                raise InovosError(f"{folder}: YouTube-VOS folder not found")
        self.meta_path = split_root / "meta.json"
        self._meta = _read_meta(self.meta_path)
        self.names = tuple(sorted(self._meta))
        for name in self.names:
            for folder in dict.fromkeys(
                (self.listed_root, self.annotations_root, self.frames_root)
            ):
                if not (folder / name).is_dir():
                    raise InovosError(f"{folder / name}: video {name} of meta.json has no folder")

    def sequence(self, name: str) -> FileSequence:
        """Open one video (headers checked; only the few annotation PNGs are decoded).

        Raises:
            InovosError: unknown video, no frames, no annotation, listed frames or
                annotations that are not frames, sizes that differ, unreadable images,
                or an object of meta.json that is never annotated.
        """
        if name not in self._meta:
            raise InovosError(f"{self.meta_path}: no video named {name!r}")
        frames_dir = self.frames_root / name
        frames = list_images(frames_dir)
        if not frames:
            raise InovosError(f"{frames_dir}: video has no frames (.jpg/.png)")
        size = common_frame_size(frames)
        index = {p.stem: i for i, p in enumerate(frames)}
        listed = [p.stem for p in list_images(self.listed_root / name)]
        if not listed:
            raise InovosError(f"{self.listed_root / name}: video has no frames (.jpg/.png)")
        for stem in listed:
            if stem not in index:
                raise InovosError(
                    f"{self.listed_root / name / stem}.jpg: frame missing from {frames_dir}"
                )
        annotations_dir = self.annotations_root / name
        annotations = sorted(annotations_dir.glob("*.png"), key=lambda p: natural_key(p.name))
        if not annotations:
            raise InovosError(f"{annotations_dir}: video has no first-frame annotation PNG")
        annotation_paths: dict[int, Path] = {}
        first_frame_of: dict[int, int] = {}
        for path in annotations:
            if path.stem not in index:
                raise InovosError(f"{path}: annotation of a frame missing from {frames_dir}")
            check_annotation_size(path, size)
            t = index[path.stem]
            annotation_paths[t] = path
            for k in object_ids_in(read_annotation(path, size)):
                first_frame_of.setdefault(k, t)
        objects = self._meta[name]
        self._cross_check(name, objects, first_frame_of, frames, annotations_dir)
        return FileSequence(
            name=name,
            frame_paths=tuple(frames),
            frame_size=size,
            annotation_paths=annotation_paths,
            object_ids=tuple(sorted(first_frame_of)),
            first_frame_of=first_frame_of,
            output_frames=tuple(listed),
            categories={k: category for k, (category, _) in objects.items()},
        )

    def _cross_check(
        self,
        name: str,
        objects: Mapping[int, tuple[str, list[str]]],
        first_frame_of: Mapping[int, int],
        frames: Sequence[Path],
        annotations_dir: Path,
    ) -> None:
        for k, (_, listed) in objects.items():
            if k not in first_frame_of:
                raise InovosError(
                    f"{annotations_dir}: object {k} of {self.meta_path} is never annotated"
                )
            first = frames[first_frame_of[k]].stem
            if listed and listed[0] != first:
                logger.warning(
                    "%s: object %d first annotated at frame %s but meta.json lists %s first",
                    annotations_dir,
                    k,
                    first,
                    listed[0],
                )
        extra = sorted(set(first_frame_of) - set(objects))
        if extra:
            logger.warning(
                "%s: objects %s are annotated but not in meta.json", annotations_dir, extra
            )


def _read_meta(path: Path) -> _Meta:
    if not path.is_file():
        raise InovosError(f"{path}: YouTube-VOS meta.json not found")
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InovosError(f"{path}: cannot read meta.json ({err})") from None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict) or not videos:
        raise InovosError(f'{path}: expected {{"videos": {{vid: {{"objects": ...}}}}}} with videos')
    meta: _Meta = {}
    for vid, entry in videos.items():
        objects = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(objects, dict):
            raise InovosError(f'{path}: video {vid} has no "objects" mapping')
        parsed: dict[int, tuple[str, list[str]]] = {}
        for key, obj in objects.items():
            if not str(key).isdigit() or not isinstance(obj, dict):
                raise InovosError(f"{path}: video {vid} has a bad object entry {key!r}")
            parsed[int(key)] = (
                str(obj.get("category", "")),
                [str(f) for f in obj.get("frames", [])],
            )
        meta[str(vid)] = parsed
    return meta


def write_ytvos_submission_zip(
    annotations_dir: str | Path,
    zip_path: str | Path,
    expected: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Zip `<annotations_dir>/<video>/<frame>.png` as `Annotations/<video>/<frame>.png`.

    Entries are sorted and time-stamped 1980-01-01, so equal inputs give equal zips.

    Args:
        annotations_dir: folder of per-video folders of predicted PNGs.
        zip_path: the zip to write (conventionally `Annotations.zip`).
        expected: video -> frame names to submit (e.g. each sequence's
            `output_frames`): only these are zipped and all must exist. None zips
            every PNG found.

    Returns:
        zip_path as a Path.

    Raises:
        InovosError: no PNGs, or a video/frame of `expected` missing.
    """
    source, target = Path(annotations_dir), Path(zip_path)
    if not source.is_dir():
        raise InovosError(f"{source}: annotations folder not found")
    files = sorted(
        (p for p in source.glob("*/*.png") if p.is_file()),
        key=lambda p: (p.parent.name, natural_key(p.name)),
    )
    if not files:
        raise InovosError(f"{source}: no <video>/<frame>.png files to zip")
    if expected is not None:
        wanted = {(v, f) for v, names in expected.items() for f in names}
        files = [p for p in files if (p.parent.name, p.stem) in wanted]
        present = {(p.parent.name, p.stem) for p in files}
        missing = [
            f"{v}/{f}.png" for v, names in expected.items() for f in names if (v, f) not in present
        ]
        if missing:
            raise InovosError(f"{source}: {len(missing)} expected PNGs missing, first {missing[0]}")
    with (
        atomic_open(target) as f,
        zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for path in files:
            name = f"Annotations/{path.parent.name}/{path.name}"
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    logger.info("wrote %s (%d PNGs)", target, len(files))
    return target
