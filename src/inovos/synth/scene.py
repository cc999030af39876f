"""Synthetic scenes: textured shapes that move, rotate, scale and occlude each other.

A `Scene` holds one sprite per object and its trajectory; `render` composites the
sprites back to front over a background frame and returns the frame and the
label map of the visible (front-most) object at every pixel.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from inovos.synth.textures import make_sprite, sample_shape, sample_texture

_MAX_ATTEMPTS = 200


@dataclass(frozen=True, eq=False)
class ObjectTrack:
    """One object: its sprite and where it is in every frame.

    Attributes:
        sprite: (S, S, 4) float32 premultiplied RGBA (RGB 0..255 times alpha, alpha 0..1).
        centers: (T, 2) float, sprite centre (x, y) in output pixels.
        angles: (T,) float, rotation in degrees (counter-clockwise on screen).
        scales: (T,) float, sprite scale.
        start: first frame in which the object exists (it is absent before).
        texture: name of the photo it was cut from (its "category").
    """

    sprite: np.ndarray
    centers: np.ndarray
    angles: np.ndarray
    scales: np.ndarray
    start: int
    texture: str


@dataclass(frozen=True, eq=False)
class Scene:
    """Objects of one sequence; object id k is `objects[k - 1]`.

    Attributes:
        size: (H, W) of the frames.
        num_frames: T.
        objects: the tracks, id order.
        depth: object indices from back to front (later ones occlude earlier ones).
    """

    size: tuple[int, int]
    num_frames: int
    objects: tuple[ObjectTrack, ...]
    depth: tuple[int, ...]


def sample_scene(
    rng: np.random.Generator,
    size: tuple[int, int],
    num_frames: int,
    textures: Sequence[str],
    starts: Sequence[int],
) -> Scene:
    """Draw a scene whose objects are clearly visible in the frame where each starts.

    Objects travel roughly across the frame through its centre, so their paths
    cross and they occlude each other mid-sequence.

    Args:
        rng: the only source of randomness.
        size: (H, W).
        num_frames: T.
        textures: texture name per object (K names).
        starts: first frame per object (K ints in [0, T)).
    """
    if len(textures) != len(starts):
        raise ValueError("one start frame per texture")
    for _ in range(_MAX_ATTEMPTS):
        tracks = tuple(
            _sample_track(rng, size, num_frames, name, start)
            for name, start in zip(textures, starts, strict=True)
        )
        scene = Scene(size, num_frames, tracks, tuple(int(i) for i in rng.permutation(len(tracks))))
        if _starts_visible(scene):
            return scene
    raise RuntimeError(f"no scene with visible objects after {_MAX_ATTEMPTS} draws (size {size})")


def _sample_track(
    rng: np.random.Generator, size: tuple[int, int], num_frames: int, texture: str, start: int
) -> ObjectTrack:
    h, w = size
    m = min(h, w)
    radius = rng.uniform(0.12, 0.25) * m
    side = max(8, round(2 * radius))
    sprite = make_sprite(sample_texture(rng, texture, side), sample_shape(rng, side))
    # Normalised time over the object's life, 0 at `start`, 1 at the last frame.
    life = np.clip((np.arange(num_frames) - start) / max(1, num_frames - 1 - start), 0, 1)
    p0 = rng.uniform([radius, radius], [max(radius, w - radius), max(radius, h - radius)])
    p1 = np.clip(np.array([w, h]) - p0 + rng.normal(0, 0.15 * m, size=2), 0, [w, h])
    wobble = rng.uniform(0, 0.06 * m, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    cycles = rng.uniform(0.5, 1.5)
    centers = p0 + life[:, None] * (p1 - p0)
    centers = centers + wobble * np.sin(2 * np.pi * cycles * life[:, None] + phase)
    spin = rng.uniform(-4.0, 4.0) * (np.arange(num_frames) - start)
    angles = rng.uniform(0, 360) + spin
    pulse = rng.uniform(0, 0.25) * np.sin(
        2 * np.pi * rng.uniform(0.3, 1.0) * life + rng.uniform(0, 6.3)
    )
    scales = rng.uniform(0.85, 1.15) * (1 + pulse)
    return ObjectTrack(sprite, centers, angles, scales, int(start), texture)


def _starts_visible(scene: Scene) -> bool:
    """Every object shows at least half of its in-frame area (and some pixels) when it starts."""
    h, w = scene.size
    min_area = max(16, int(0.002 * h * w))
    for k, obj in enumerate(scene.objects, start=1):
        t = obj.start
        full = amodal_masks(scene, t)[k - 1].sum()
        visible = (render_labels(scene, t) == k).sum()
        if full < min_area or visible < 0.5 * full:
            return False
    return True


def place(obj: ObjectTrack, t: int, size: tuple[int, int]) -> tuple[int, int, np.ndarray] | None:
    """Warp an object's sprite for frame t into its bounding box inside the frame.

    Returns:
        (y0, x0, patch) with patch (h, w, 4) float32 premultiplied RGBA to paste at
        (y0, x0), or None when the object is absent or entirely outside the frame.
    """
    if t < obj.start:
        return None
    height, width = size
    side = obj.sprite.shape[0]
    theta = np.deg2rad(obj.angles[t])
    rot = obj.scales[t] * np.array(
        [[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]
    )
    centre = (side - 1) / 2.0
    offset = obj.centers[t] - rot @ np.array([centre, centre])
    corners = np.array(
        [[-0.5, -0.5], [side - 0.5, -0.5], [-0.5, side - 0.5], [side - 0.5, side - 0.5]]
    )
    mapped = corners @ rot.T + offset
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int)
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    matrix = np.concatenate([rot, (offset - [x0, y0])[:, None]], axis=1)
    patch = cv2.warpAffine(
        obj.sprite, matrix, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0),
    )  # fmt: skip
    return int(y0), int(x0), patch


def _layers(scene: Scene, t: int) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """(object id, y0, x0, patch) for the objects present at frame t, back to front."""
    for index in scene.depth:
        placed = place(scene.objects[index], t, scene.size)
        if placed is not None:
            yield (index + 1, *placed)


def render(scene: Scene, t: int, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Composite frame t over a background.

    Args:
        scene: the objects.
        t: frame index.
        background: (H, W, 3) uint8 RGB.

    Returns:
        (frame (H, W, 3) uint8 RGB, labels (H, W) uint8: front-most object id, 0 elsewhere).
        A pixel belongs to an object where the object's alpha is at least 0.5.
    """
    layers = list(_layers(scene, t))
    image = background.copy()
    for _, y0, x0, patch in layers:
        h, w = patch.shape[:2]
        view = image[y0 : y0 + h, x0 : x0 + w]
        mixed = view * (1.0 - patch[:, :, 3:]) + patch[:, :, :3]
        view[...] = np.clip(np.rint(mixed), 0, 255)
    return image, _paint_labels(scene.size, layers)


def render_labels(scene: Scene, t: int) -> np.ndarray:
    """The label map of frame t alone: (H, W) uint8 front-most object ids."""
    return _paint_labels(scene.size, _layers(scene, t))


def _paint_labels(
    size: tuple[int, int], layers: Iterable[tuple[int, int, int, np.ndarray]]
) -> np.ndarray:
    labels = np.zeros(size, np.uint8)
    for k, y0, x0, patch in layers:
        h, w = patch.shape[:2]
        labels[y0 : y0 + h, x0 : x0 + w][patch[:, :, 3] >= 0.5] = k
    return labels


def amodal_masks(scene: Scene, t: int) -> np.ndarray:
    """Full in-frame extent of every object at frame t, ignoring occlusion: (K, H, W) bool."""
    masks = np.zeros((len(scene.objects), *scene.size), bool)
    for k, y0, x0, patch in _layers(scene, t):
        h, w = patch.shape[:2]
        masks[k - 1, y0 : y0 + h, x0 : x0 + w] = patch[:, :, 3] >= 0.5
    return masks
