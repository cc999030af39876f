"""Label-propagation protocol presets: knobs, the input-size rule, frame input.

The presets reproduce the published protocols:

| preset     | input size                                   | n_last | top-k | context      | R  | temp |
|------------|----------------------------------------------|--------|-------|--------------|----|------|
| ino-davis  | short side 480, other floored to a mult. of 8 | 6      | 5     | first + 10   | 40 | 0.1  |
| ino-ytvos  | native floored to mult. of 8 (1080x1920 and   | 6      | 5     | first + 20   | 50 | 0.1  |
|            | 816x1920 -> 720x1280)                         |        |       |              |    |      |
| dino-davis | short side 480, other floored to a mult. of 64| 1      | 5     | first + 7    | 12 | 0.1  |
| crw-jhmdb  | 320 x 320 square (floored to the patch)       | 6      | 10    | first + 20 * | 12 | 0.07 |
| crw-vip    | 560 x 560 square (floored to the patch)       | 6      | 10    | first + 20 * | 12 | 0.07 |

(*) the first frame repeated to fill the context slots before it, as CRW pads a video.

Every knob can be overridden with ``dataclasses.replace(get_preset(name), topk=10)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from inovos.errors import InovosError
from inovos.normalization import DAVIS_EVAL_STD, IMAGENET_MEAN

LabelMode = Literal["soft", "hard"]


@dataclass(frozen=True)
class PropagationParams:
    """Every knob of label propagation.

    Attributes:
        n_last: feature layer: ``intermediate_layers(x, n_last)[0]`` (6 -> output of block 7
            of 12; 1 -> last block).
        topk: neighbours kept per query position, jointly over all context frames.
        n_context: previous frames in the context besides the chain's first frame.
        radius: square window half-size R on the feature grid (|drow| <= R, |dcol| <= R).
        temperature: softmax temperature over the top-k scores.
        short_side: the input's short side in pixels, or None to keep the native size.
        size_multiple: the other side (or both sides when native) is floored to a multiple.
        size_overrides: exact (H, W) -> (H', W') input sizes that bypass the rule.
        label_mode: "soft": bilinear (align_corners True) downscale of the full-resolution
            one-hot map (INO); "hard": nearest downscale of the id map, then one-hot (DINO).
        square_size: resize every frame to a square of this side (floored to the size
            multiple of ``input_size``), ignoring its aspect ratio, as CRW's and UVC's
            JHMDB and VIP protocols do; None: the short-side rule.
        repeat_first: fill the context slots before the first frame with copies of it,
            as CRW pads a video: the context of frame t is the first frame plus frames
            max(first, j) for j in t - n_context .. t - 1, duplicates kept (they weigh
            in the joint top-k).
    """

    n_last: int = 6
    topk: int = 5
    n_context: int = 10
    radius: int = 40
    temperature: float = 0.1
    short_side: int | None = 480
    size_multiple: int = 8
    size_overrides: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = ()
    label_mode: LabelMode = "soft"
    square_size: int | None = None
    repeat_first: bool = False

    def __post_init__(self) -> None:
        checks = (
            (self.n_last >= 1, f"n_last must be >= 1, got {self.n_last}"),
            (self.topk >= 1, f"topk must be >= 1, got {self.topk}"),
            (self.n_context >= 0, f"n_context must be >= 0, got {self.n_context}"),
            (self.radius >= 0, f"radius must be >= 0, got {self.radius}"),
            (self.temperature > 0, f"temperature must be > 0, got {self.temperature}"),
            (self.size_multiple >= 1, f"size_multiple must be >= 1, got {self.size_multiple}"),
            (
                self.short_side is None or self.short_side >= 1,
                f"short_side must be >= 1 or None, got {self.short_side}",
            ),
            (
                self.square_size is None or self.square_size >= 1,
                f"square_size must be >= 1 or None, got {self.square_size}",
            ),
            (
                self.label_mode in ("soft", "hard"),
                f"label_mode must be 'soft' or 'hard', got {self.label_mode!r}",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise InovosError(f"propagation parameters: {message}")


_YTVOS_OVERRIDES = (((1080, 1920), (720, 1280)), ((816, 1920), (720, 1280)))

PRESETS: dict[str, PropagationParams] = {
    "ino-davis": PropagationParams(
        n_last=6, topk=5, n_context=10, radius=40, temperature=0.1, short_side=480, size_multiple=8
    ),
    "ino-ytvos": PropagationParams(
        n_last=6,
        topk=5,
        n_context=20,
        radius=50,
        temperature=0.1,
        short_side=None,
        size_multiple=8,
        size_overrides=_YTVOS_OVERRIDES,
    ),
    "dino-davis": PropagationParams(
        n_last=1,
        topk=5,
        n_context=7,
        radius=12,
        temperature=0.1,
        short_side=480,
        size_multiple=64,
        label_mode="hard",
    ),
    # JHMDB keypoints and VIP parts as CRW runs them (its test script's defaults: top-k 10,
    # 20 previous frames plus the first, radius 12, temperature 0.07; frames squashed to
    # 320x320 / 560x560; the first frame repeated to fill the context).
    "crw-jhmdb": PropagationParams(
        n_last=6,
        topk=10,
        n_context=20,
        radius=12,
        temperature=0.07,
        short_side=None,
        size_multiple=1,
        square_size=320,
        repeat_first=True,
    ),
    "crw-vip": PropagationParams(
        n_last=6,
        topk=10,
        n_context=20,
        radius=12,
        temperature=0.07,
        short_side=None,
        size_multiple=1,
        square_size=560,
        repeat_first=True,
    ),
}


def get_preset(name: str) -> PropagationParams:
    """The preset called ``name`` (one of ``PRESETS``).

    Raises:
        InovosError: unknown name.
    """
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise InovosError(f"unknown propagation preset {name!r} (known: {known})") from None


def input_size(height: int, width: int, params: PropagationParams, patch: int) -> tuple[int, int]:
    """The model input size (H', W') for a frame of (height, width) pixels.

    Short-side presets set the short side to ``short_side`` and floor the other side
    (``short * long / short_side_of_frame``, exact integer arithmetic) to the size
    multiple; native presets floor both sides; ``size_overrides`` come first. The size
    multiple is the preset's ``size_multiple`` when the patch divides it and the patch size
    otherwise (8 stays 8 for patch 8, becomes 16 for patch 16, 14 for DINOv2's patch 14),
    and every side, the short side and the override sizes included, is floored to a
    multiple of the patch so the feature grid is exact. With patch 8 or 16 and the
    preset values this changes nothing; with patch 14 the short side 480 becomes 476.

    Raises:
        InovosError: bad sizes, or a result smaller than one patch.
    """
    if height < 1 or width < 1:
        raise InovosError(f"frame size must be positive, got {height}x{width}")
    if patch < 1:
        raise InovosError(f"patch size must be positive, got {patch}")
    for (src_h, src_w), (to_h, to_w) in params.size_overrides:
        if (height, width) == (src_h, src_w):
            return _checked(to_h // patch * patch, to_w // patch * patch, height, width, patch)
    multiple = params.size_multiple if params.size_multiple % patch == 0 else patch
    if params.square_size is not None:
        side = params.square_size // multiple * multiple
        return _checked(side, side, height, width, patch)
    if params.short_side is None:
        out_h, out_w = height // multiple * multiple, width // multiple * multiple
        return _checked(out_h, out_w, height, width, patch)
    short = params.short_side // patch * patch
    if height > width:
        out_w = short
        out_h = short * height // width // multiple * multiple
    else:
        out_h = short
        out_w = short * width // height // multiple * multiple
    return _checked(out_h, out_w, height, width, patch)


def _checked(out_h: int, out_w: int, height: int, width: int, patch: int) -> tuple[int, int]:
    if out_h < patch or out_w < patch or out_h % patch or out_w % patch:
        raise InovosError(
            f"frame of {height}x{width} gives model input {out_h}x{out_w}, "
            f"not a positive multiple of the patch size {patch}"
        )
    return out_h, out_w


def frames_to_input(
    frames: np.ndarray | torch.Tensor,
    size: tuple[int, int],
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """RGB uint8 frames -> normalised model input (bilinear resize, then mean/std).

    Each frame is scaled to [0, 1], resized bilinearly (align_corners False, no
    antialiasing, like OpenCV's INTER_LINEAR that the original code uses) to ``size`` and
    normalised with ``IMAGENET_MEAN``/``DAVIS_EVAL_STD``. Resizing and normalising commute (the
    normalisation is per-channel affine), so their order only changes rounding.

    Args:
        frames: (H, W, 3) or (B, H, W, 3) uint8 RGB.
        size: (H', W') model input size, e.g. from ``input_size``.
        device: where the result lives (the work is done there).

    Returns:
        (B, 3, H', W') float32.
    """
    x = torch.as_tensor(frames)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be (H, W, 3) or (B, H, W, 3), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8, got {x.dtype}")
    x = x.to(device).permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(DAVIS_EVAL_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
