"""JHMDB's joint file format: ``joint_positions.mat`` holding ``pos_img``, (2, 15, T) float
(x, y) pixel positions, 1-based, of the 15 puppet joints in every frame; read and written
with scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inovos.atomic import atomic_write_bytes
from inovos.errors import InovosError

JOINT_NAMES: tuple[str, ...] = (
    "neck",
    "belly",
    "face",
    "right_shoulder",
    "left_shoulder",
    "right_hip",
    "left_hip",
    "right_elbow",
    "left_elbow",
    "right_knee",
    "left_knee",
    "right_wrist",
    "left_wrist",
    "right_ankle",
    "left_ankle",
)
NUM_JOINTS = len(JOINT_NAMES)
MAT_NAME = "joint_positions.mat"


def read_joint_positions(path: Path) -> np.ndarray:
    """``pos_img`` of a ``joint_positions.mat``: (2, 15, T) float64, finite.

    Raises:
        InovosError: unreadable file, no ``pos_img``, wrong shape or non-finite values.
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except FileNotFoundError:
        raise InovosError(f"{path}: joint positions file not found") from None
    except (OSError, ValueError, TypeError) as err:
        raise InovosError(f"{path}: cannot read MATLAB file ({err})") from None
    if "pos_img" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise InovosError(f"{path}: no 'pos_img' variable (found: {', '.join(keys) or 'none'})")
    pos = np.asarray(mat["pos_img"])
    if pos.ndim != 3 or pos.shape[:2] != (2, NUM_JOINTS) or pos.shape[2] < 1:
        raise InovosError(f"{path}: pos_img must be 2 x {NUM_JOINTS} x T, got {pos.shape}")
    if not np.issubdtype(pos.dtype, np.number) or not np.isfinite(pos).all():
        raise InovosError(f"{path}: pos_img holds non-finite or non-numeric values")
    return pos.astype(np.float64)


def read_predicted_positions(path: Path) -> np.ndarray:
    """``pos_img`` of a prediction file: (2, 15, T) float64; NaN allowed (no position).

    Raises:
        InovosError: missing or unreadable file, no ``pos_img`` or a wrong shape.
    """
    import scipy.io

    if not path.is_file():
        raise InovosError(f"{path}: prediction not found (run inovos propagate)")
    try:
        pos = np.asarray(scipy.io.loadmat(str(path)).get("pos_img"))
    except (OSError, ValueError, TypeError) as err:
        raise InovosError(f"{path}: cannot read prediction ({err})") from None
    if pos.ndim != 3 or pos.shape[:2] != (2, NUM_JOINTS):
        raise InovosError(f"{path}: prediction pos_img must be 2 x 15 x T, got {pos.shape}")
    return pos.astype(np.float64)


def save_mat(path: Path, variables: dict[str, object]) -> None:
    """Write a MATLAB 5 file atomically, its bytes a function of ``variables`` only (scipy
    stamps the creation time into the 116-byte text header; a fixed text replaces it)."""
    import io

    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, do_compression=False)
    data = bytearray(buffer.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, written by inovos".ljust(116)
    atomic_write_bytes(path, bytes(data))
