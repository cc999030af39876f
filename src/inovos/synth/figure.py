"""Articulated look-alike people: 15 JHMDB joints moving through a video, drawn as
photo-textured body parts over a background frame.

A figure's pose at frame t comes from forward kinematics (torso, head, two-segment
arms and legs) driven by a motion ("walk", "wave", "jump") with random amplitudes,
speed and phase; the whole track is fitted inside the frame. Each body part carries a
texture tile that moves with the part and a part class (the VIP classes), so the same
figure serves the keypoint (JHMDB) and the part (VIP) look-alikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inovos.synth.textures import sample_texture

MOTIONS: tuple[str, ...] = ("walk", "wave", "jump")

# Joint indices (JHMDB order).
NECK, BELLY, FACE, R_SHO, L_SHO, R_HIP, L_HIP, R_ELB, L_ELB = range(9)
R_KNEE, L_KNEE, R_WRI, L_WRI, R_ANK, L_ANK = range(9, 15)

# Body parts back to front: (name, joint chain drawn as a thick polyline, width as a
# fraction of the figure height, VIP class id).
PARTS: tuple[tuple[str, tuple[int, ...], float, int], ...] = (
    ("right_thigh", (R_HIP, R_KNEE), 0.075, 8),  # pants
    ("left_thigh", (L_HIP, L_KNEE), 0.075, 8),
    ("right_shin", (R_KNEE, R_ANK), 0.06, 16),  # right-leg
    ("left_shin", (L_KNEE, L_ANK), 0.06, 17),  # left-leg
    ("torso", (NECK, BELLY), 0.2, 4),  # upper-clothes
    ("neck", (NECK, FACE), 0.05, 12),  # torso-skin
    ("right_arm", (R_SHO, R_ELB, R_WRI), 0.05, 14),  # right-arm
    ("left_arm", (L_SHO, L_ELB, L_WRI), 0.05, 15),  # left-arm
)
HEAD_CLASSES = (13, 2)  # face, hair (the top of the head)
SHOE_CLASSES = (18, 19)  # right-shoe, left-shoe


@dataclass(frozen=True, eq=False)
class Figure:
    """One figure: joints in every frame and the look of its parts.

    Attributes:
        joints: (T, 15, 2) float64 (x, y) pixel positions, 0-based.
        height: figure height in pixels (sets part widths).
        tiles: one (S, S, 3) uint8 texture tile per part (PARTS, then head, hair, shoes).
    """

    joints: np.ndarray
    height: float
    tiles: tuple[np.ndarray, ...]


def _direction(angle: np.ndarray) -> np.ndarray:
    """Unit vectors at ``angle`` radians from straight down (image y grows downwards)."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def _angles(rng: np.random.Generator, motion: str, num_frames: int) -> dict[str, np.ndarray]:
    """Joint angles (radians from straight down) and root offsets over time."""
    speed = rng.uniform(0.25, 0.55)
    phase = rng.uniform(0, 2 * np.pi)
    s = np.sin(speed * np.arange(num_frames) + phase)
    c = np.cos(speed * np.arange(num_frames) + phase)
    zero = np.zeros(num_frames)
    swing = rng.uniform(0.3, 0.6)
    out = {
        "r_thigh": swing * s,
        "l_thigh": -swing * s,
        "r_knee": 0.4 * np.maximum(0, c),
        "l_knee": 0.4 * np.maximum(0, -c),
        "r_arm": -0.8 * swing * s + 0.15,
        "l_arm": 0.8 * swing * s - 0.15,
        "r_elbow": 0.2 + 0.2 * np.abs(s),
        "l_elbow": -0.2 - 0.2 * np.abs(s),
        "lean": 0.05 * s,
        "bob": zero.copy(),
    }
    if motion == "wave":
        out["r_thigh"], out["l_thigh"] = zero + 0.12, zero - 0.12
        out["r_knee"], out["l_knee"] = zero, zero.copy()
        out["r_arm"] = -2.3 + 0.35 * s  # raised, out to the figure's right (image left)
        out["r_elbow"] = -0.6 * (1 + c) / 2
    elif motion == "jump":
        hop = np.abs(s)
        out["bob"] = hop
        out["r_thigh"], out["l_thigh"] = 0.15 + 0.3 * hop, -0.15 - 0.3 * hop
        out["r_knee"], out["l_knee"] = 0.6 * (1 - hop), 0.6 * (1 - hop)
        out["r_arm"], out["l_arm"] = -0.4 - 2.0 * hop, 0.4 + 2.0 * hop
    return out


def _pose(a: dict[str, np.ndarray], root: np.ndarray, h: float) -> np.ndarray:
    """Forward kinematics: (T, 15, 2) joints for angles ``a``, belly path ``root`` (T, 2)."""
    t = root.shape[0]
    up = -_direction(a["lean"])  # (T, 2) torso axis, belly -> neck
    side = np.stack([np.cos(a["lean"]), -np.sin(a["lean"])], axis=-1)  # image right
    j = np.zeros((t, 15, 2))
    j[:, BELLY] = root
    j[:, NECK] = root + 0.3 * h * up
    j[:, FACE] = j[:, NECK] + 0.1 * h * up
    j[:, R_SHO] = j[:, NECK] - 0.1 * h * side  # facing the camera: right is image left
    j[:, L_SHO] = j[:, NECK] + 0.1 * h * side
    pelvis = root - 0.06 * h * up
    j[:, R_HIP] = pelvis - 0.06 * h * side
    j[:, L_HIP] = pelvis + 0.06 * h * side
    j[:, R_ELB] = j[:, R_SHO] + 0.15 * h * _direction(a["r_arm"])
    j[:, L_ELB] = j[:, L_SHO] + 0.15 * h * _direction(a["l_arm"])
    j[:, R_WRI] = j[:, R_ELB] + 0.14 * h * _direction(a["r_arm"] + a["r_elbow"])
    j[:, L_WRI] = j[:, L_ELB] + 0.14 * h * _direction(a["l_arm"] + a["l_elbow"])
    j[:, R_KNEE] = j[:, R_HIP] + 0.22 * h * _direction(a["r_thigh"])
    j[:, L_KNEE] = j[:, L_HIP] + 0.22 * h * _direction(a["l_thigh"])
    j[:, R_ANK] = j[:, R_KNEE] + 0.22 * h * _direction(a["r_thigh"] - a["r_knee"])
    j[:, L_ANK] = j[:, L_KNEE] + 0.22 * h * _direction(a["l_thigh"] + a["l_knee"])
    return j


def sample_figure(
    rng: np.random.Generator,
    size: tuple[int, int],
    num_frames: int,
    motion: str,
    textures: tuple[str, ...],
    region: tuple[float, float] = (0.0, 1.0),
) -> Figure:
    """Draw a figure whose joints stay inside the frame in every frame.

    Args:
        rng: the only source of randomness.
        size: (H, W) of the frames.
        num_frames: T.
        motion: one of MOTIONS.
        textures: photo names the part tiles are cut from.
        region: horizontal band (fractions of W) the figure's track is fitted into.
    """
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}")
    height, width = size
    h = rng.uniform(0.6, 0.85) * height
    a = _angles(rng, motion, num_frames)
    life = np.linspace(0.0, 1.0, num_frames)
    travel = rng.uniform(-0.25, 0.25) * width if motion == "walk" else rng.normal(0, 0.03) * width
    root = np.stack(
        [travel * life, -0.12 * h * a["bob"] + rng.normal(0, 0.01 * h, num_frames)], axis=1
    )
    joints = _pose(a, root, h)
    joints = _fit(joints, h, size, region)
    names = [str(n) for n in rng.choice(textures, size=len(PARTS) + 4)]
    side = max(8, int(0.2 * h))
    tiles = tuple(sample_texture(rng, name, side) for name in names)
    return Figure(joints, h * _scale_of(joints, h), tiles)


def _scale_of(joints: np.ndarray, h: float) -> float:
    """Actual figure height after fitting, relative to the designed height h."""
    extent = joints[:, NECK] - joints[:, BELLY]
    return float(np.linalg.norm(extent, axis=1).mean() / (0.3 * h))


def _fit(
    joints: np.ndarray, h: float, size: tuple[int, int], region: tuple[float, float]
) -> np.ndarray:
    """Scale and shift the track (head and feet margins included) into the frame band."""
    height, width = size
    margin = 0.1 * h  # room for the head circle and the feet
    lo = joints.reshape(-1, 2).min(axis=0) - margin
    hi = joints.reshape(-1, 2).max(axis=0) + margin
    left, right = region[0] * width + 2, region[1] * width - 2
    scale = min(1.0, (right - left) / (hi[0] - lo[0]), (height - 4) / (hi[1] - lo[1]))
    joints = (joints - lo) * scale
    span = (hi - lo) * scale
    offset = np.array([left + 0.5 * (right - left - span[0]), 2 + 0.5 * (height - 4 - span[1])])
    return joints + offset


def _paint(
    image: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    tile: np.ndarray,
    anchor: np.ndarray,
    label: int,
) -> None:
    """Fill ``mask`` with ``tile`` repeated around ``anchor`` (so it moves with the part)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return
    s = tile.shape[0]
    ty = (ys - round(float(anchor[1]))) % s
    tx = (xs - round(float(anchor[0]))) % s
    image[ys, xs] = tile[ty, tx]
    labels[ys, xs] = label


def render_figure(
    image: np.ndarray, labels: np.ndarray, figure: Figure, t: int, part_labels: bool
) -> None:
    """Draw the figure's frame t onto ``image`` (H, W, 3) uint8 and ``labels`` (H, W) uint8.

    Args:
        part_labels: write VIP part classes into ``labels``; otherwise 1 on the figure.
    """
    j = figure.joints[t]
    h = figure.height
    for k, (_, chain, width, cls) in enumerate(PARTS):
        mask = np.zeros(labels.shape, np.uint8)
        points = np.round(j[list(chain)] * 16).astype(np.int32)[:, None, :]
        thick = max(2, round(float(width * h)))
        cv2.polylines(mask, [points], False, 1, thick, cv2.LINE_8, 4)
        _paint(image, labels, mask > 0, figure.tiles[k], j[chain[0]], cls if part_labels else 1)
    n = len(PARTS)
    for side, (ankle, cls) in enumerate(zip((R_ANK, L_ANK), SHOE_CLASSES, strict=True)):
        mask = np.zeros(labels.shape, np.uint8)
        centre = tuple(int(v) for v in np.round(j[ankle] * 16))
        axes = (max(2, int(0.05 * h * 16)), max(1, int(0.025 * h * 16)))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1, cv2.LINE_8, 4)
        _paint(
            image, labels, mask > 0, figure.tiles[n + 2 + side], j[ankle], cls if part_labels else 1
        )
    head = j[FACE] + (j[FACE] - j[NECK]) * 0.6
    radius = max(2, round(float(0.075 * h)))
    mask = np.zeros(labels.shape, np.uint8)
    cv2.circle(mask, tuple(int(v) for v in np.round(head)), radius, 1, -1)
    hair = mask.copy()
    hair[round(float(head[1])) :, :] = 0  # the upper half of the head is hair
    face = (mask > 0) & (hair == 0)
    face_cls, hair_cls = HEAD_CLASSES if part_labels else (1, 1)
    _paint(image, labels, face, figure.tiles[n], head, face_cls)
    _paint(image, labels, hair > 0, figure.tiles[n + 1], head, hair_cls)
