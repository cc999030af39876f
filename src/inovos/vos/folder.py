"""A plain folder of frames plus a first-frame mask: the "bring your own video" reader."""

from __future__ import annotations

import logging
from pathlib import Path

from inovos.errors import InovosError
from inovos.formats.images import list_images
from inovos.formats.palette import VOID_ID
from inovos.vos.sequence import (
    FileSequence,
    common_frame_size,
    object_ids_in,
    read_annotation,
)

logger = logging.getLogger(__name__)


def open_folder(
    frames_dir: str | Path, mask_path: str | Path, name: str | None = None
) -> FileSequence:
    """Frames (.jpg/.jpeg/.png, natural order: 2 before 10) and a mask for frame 0.

    The mask is a palette or grayscale PNG of object ids (0 background, 255 void),
    the size of the frames. A binary 0/255 mask (the usual black-and-white
    export) is read as a single object with id 1. All frames are written as outputs.

    Args:
        frames_dir: the folder of frames.
        mask_path: first-frame mask PNG.
        name: sequence name; defaults to the folder's name.

    Raises:
        InovosError: no frames, unreadable or differently sized images, a mask of
            another size, or a mask with no object.
    """
    folder, mask_file = Path(frames_dir), Path(mask_path)
    frames = list_images(folder)
    if not frames:
        raise InovosError(f"{folder}: no frames (.jpg/.jpeg/.png)")
    size = common_frame_size(frames)
    if not mask_file.is_file():
        raise InovosError(f"{mask_file}: first-frame mask not found")
    labels = read_annotation(mask_file, size)
    ids = object_ids_in(labels)
    binary = not ids and bool((labels == VOID_ID).any())
    if binary:
        logger.info("%s: binary 0/255 mask, reading 255 as object 1", mask_file)
        ids = (1,)
    if not ids:
        raise InovosError(f"{mask_file}: the mask contains no object (all pixels 0)")
    return FileSequence(
        name=name or folder.resolve().name,
        frame_paths=tuple(frames),
        frame_size=size,
        annotation_paths={0: mask_file},
        object_ids=ids,
        first_frame_of=dict.fromkeys(ids, 0),
        output_frames=tuple(p.stem for p in frames),
        binary_mask=binary,
    )
