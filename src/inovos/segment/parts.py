"""Part propagation on VIP as CRW runs it: the first frame's classes as soft label maps
on the feature grid, propagated, read back by argmax at the model's input size.

- First frame: the category map is resized to the model input size with OpenCV's
  nearest rule (source pixel floor(o * n_in / n_out)), one-hot over background and
  the classes present, and downscaled to the feature grid bilinearly (half-pixel
  centres, no antialiasing: ``cv2.resize`` INTER_LINEAR). Ignore pixels (255) count as
  background. (CRW's own resize call passes the nearest flag in the place of the output
  array, so it actually resizes its colour label image bilinearly; the nearest rule it
  meant is used here.)
- Later frames: the propagated map is upsampled bilinearly (half-pixel) to the input
  size, the argmax picks a class (first on ties, no min-max normalisation), and the
  class map is resized to the frame size with Pillow's NEAREST rule.

Outputs: ``OUT/<video>/<frame>.png`` palette PNGs of class ids for every frame; the
first one is the given map read back the same way (grid and back, as CRW writes it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inovos.formats.palette import write_label_png
from inovos.formats.parts import IGNORE_ID
from inovos.propagation.features import FeatureModel
from inovos.propagation.labels import resize_nearest
from inovos.propagation.presets import input_size
from inovos.propagation.propagator import Propagator
from inovos.segment.background import BackgroundWriter
from inovos.segment.frames import video_features
from inovos.segment.runner import SegmentOptions, SequenceResult, ensure_writable
from inovos.vos.vip import VipVideo


def present_classes(ids: np.ndarray) -> tuple[int, ...]:
    """Sorted classes of a category map other than background 0 and ignore 255."""
    return tuple(int(c) for c in np.unique(ids) if c not in (0, IGNORE_ID))


def first_frame_map(
    ids: np.ndarray, classes: Sequence[int], size: tuple[int, int], grid: tuple[int, int]
) -> torch.Tensor:
    """The first frame's label map (module docstring): (1 + len(classes), h, w) float32.

    Args:
        ids: (H, W) class ids.
        classes: channel c + 1 holds ``classes[c]``; channel 0 the background.
        size: (H', W') model input size.
        grid: (h, w) feature grid.
    """
    rows = (np.arange(size[0]) * ids.shape[0]) // size[0]  # OpenCV nearest
    cols = (np.arange(size[1]) * ids.shape[1]) // size[1]
    big = ids[rows[:, None], cols[None, :]]
    lut = np.zeros(256, np.int64)
    lut[list(classes)] = np.arange(1, len(classes) + 1)
    channels = torch.from_numpy(lut[big])  # ignore and unknown -> background
    onehot = F.one_hot(channels, 1 + len(classes)).permute(2, 0, 1).float()
    return F.interpolate(onehot[None], size=grid, mode="bilinear", align_corners=False)[0]


def read_classes(
    soft: torch.Tensor,
    classes: Sequence[int],
    size: tuple[int, int],
    frame_size: tuple[int, int],
) -> np.ndarray:
    """Class map of a propagated (1 + K, h, w) map (module docstring): (H, W) uint8."""
    up = F.interpolate(soft[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    lut = np.array((0, *classes), np.uint8)
    return resize_nearest(lut[up.argmax(dim=0).cpu().numpy()], frame_size)


def propagate_video(
    model: FeatureModel,
    video: VipVideo,
    out_dir: Path,
    options: SegmentOptions,
    tick: Callable[[], object] | None = None,
) -> None:
    """Propagate the first frame's parts through the video and write every frame's PNG
    (``tick()`` after each frame)."""
    params = options.params
    patch = int(model.patch_size)
    size = input_size(*video.frame_size, params, patch)
    grid = (size[0] // patch, size[1] // patch)
    first = video.labels(0)
    classes = present_classes(first)
    prop = Propagator(params, classes, patch, video.frame_size, options.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    with BackgroundWriter(options.write_workers) as writer:
        for i, feat in enumerate(video_features(model, video, size, options)):
            given = first_frame_map(first, classes, size, grid) if i == 0 else None
            ids = read_classes(prop.step(feat, labels=given), classes, size, video.frame_size)
            png = out_dir / f"{video.frame_names[i]}.png"
            writer.submit(write_label_png, png, ids)  # atomic
            if tick is not None:
                tick()


def is_complete(video: VipVideo, out_dir: Path) -> bool:
    """True when every frame's PNG exists (each is written atomically)."""
    return all((out_dir / f"{n}.png").is_file() for n in video.frame_names)


def propagate_vip(
    model: FeatureModel,
    videos: Sequence[VipVideo],
    out_root: Path,
    options: SegmentOptions,
    progress: bool = True,
) -> list[SequenceResult]:
    """Propagate every (opened) video into ``out_root/<video>/``; complete ones are skipped.
    A progress bar counts frames."""
    from tqdm import tqdm

    ensure_writable(out_root)
    results = []
    total = sum(v.num_frames for v in videos)
    with tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        for video in videos:
            bar.set_postfix_str(video.name)
            out_dir = out_root / video.name
            skip = options.resume and is_complete(video, out_dir)
            start = time.perf_counter()
            if not skip:
                propagate_video(model, video, out_dir, options, tick=bar.update)
            seconds = time.perf_counter() - start
            results.append(SequenceResult(video.name, video.num_frames, seconds, skipped=skip))
            if skip:
                bar.update(video.num_frames)
    return results
