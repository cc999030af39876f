"""An on-disk cache of backbone features, so protocol sweeps never recompute them.

One entry holds one frame's features, (D, h, w) float32 exactly as ``extract_features``
returned them, in a safetensors file (nothing to unpickle) named by its key: the sha256
of the model identity (sha256 of the weights file, or ``random:ARCH`` + seed, or
``pixels``), the layer, the model input size, the autocast dtype, the device type, the
cache format and inovos version, and the frame's pixels. A file's metadata repeats the
key and a sha256 of the tensor bytes; an entry that fails to read or does not match is
deleted and recomputed, never trusted. Files are written atomically, so several runs
may share one cache folder.

The cache is bounded by the total bytes of its entries: after each write, least
recently used entries (file modification time, refreshed on every hit) are deleted
until the total is under the bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from inovos import __version__
from inovos.atomic import atomic_write, remove_stale_temps
from inovos.errors import InovosError
from inovos.propagation.features import FeatureModel, extract_features
from inovos.segment.models import file_sha256, source_file

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SUFFIX = ".safetensors"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes of a size such as ``20G``, ``500M``, ``1.5T`` or ``1048576`` (binary units).

    Raises:
        InovosError: not a size, or zero.
    """
    match = _SIZE.match(text)
    if not match:
        raise InovosError(f"feature cache size {text!r} is not a size (e.g. 500M, 20G)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value <= 0:
        raise InovosError(f"feature cache size {text!r} must be more than 0 bytes")
    return value


def model_identity(
    source: str, *, which: str = "auto", patch_size: int | None = None, seed: int = 0
) -> str:
    """What makes a ``--model`` source's features what they are, as a string.

    A weights file is named by the sha256 of its bytes (with the network chosen by
    ``which`` and the patch size asked for), ``random:ARCH`` by its architecture, patch
    size and seed, ``pixels`` by its patch size.
    """
    patch = f"patch:{patch_size or 'default'}"
    if source == "pixels":
        return f"pixels/{patch}"
    if source.startswith("random:"):
        return f"{source}/{patch}/seed:{seed}"
    path = source_file(source) or Path(source)  # a named release: its file in the cache
    if not path.is_file():
        raise InovosError(f"{path}: model file not found")
    return f"sha256:{file_sha256(path)}/which:{which}/{patch}"


@dataclass(frozen=True)
class FeatureKey:
    """Everything but the frame that decides a frame's features.

    Attributes:
        model: ``model_identity`` of the backbone.
        n_last: the layer (``intermediate_layers(n_last)[0]``).
        input_size: (H', W') model input size.
        autocast_dtype: "float32", or the CUDA autocast dtype ("bfloat16", "float16").
        device_type: "cpu" or "cuda" (their features differ in the last bits).
    """

    model: str
    n_last: int
    input_size: tuple[int, int]
    autocast_dtype: str
    device_type: str

    def for_frame(self, frame: np.ndarray) -> str:
        """Hex sha256 key of the features of ``frame`` ((H, W, 3) uint8 RGB)."""
        head = json.dumps(
            {
                "format": FORMAT_VERSION,
                "inovos": __version__,
                "model": self.model,
                "n_last": self.n_last,
                "input_size": list(self.input_size),
                "autocast": self.autocast_dtype,
                "device": self.device_type,
                "frame": [list(frame.shape), str(frame.dtype)],
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(head.encode())
        digest.update(np.ascontiguousarray(frame).tobytes())
        return digest.hexdigest()


def _tensor_sha256(t: torch.Tensor) -> str:
    """Hex sha256 of a CPU tensor's dtype, shape and bytes."""
    digest = hashlib.sha256(f"{t.dtype}{list(t.shape)}".encode())
    digest.update(t.contiguous().numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """A folder of feature entries bounded to ``max_bytes`` (see the module docstring).

    Args:
        root: the cache folder (created by the first entry written).
        max_bytes: bound on the total size of the entries.

    Raises:
        InovosError: ``root`` is a file.
    """

    def __init__(self, root: str | Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        if self.root.exists() and not self.root.is_dir():
            raise InovosError(f"{self.root}: the feature cache must be a folder, not a file")
        self.hits = self.misses = self.corrupt = self.stored = 0
        self._total = self.total_bytes()

    def path(self, key: str) -> Path:
        """The file of entry ``key``."""
        return self.root / f"{key}{SUFFIX}"

    def entries(self) -> list[Path]:
        """Entry files, in no particular order."""
        return [p for p in self.root.glob(f"*{SUFFIX}") if not p.name.startswith(".")]

    def total_bytes(self) -> int:
        """Total size of the entries now on disk."""
        return sum(_size(p) for p in self.entries())

    def get(self, key: str) -> torch.Tensor | None:
        """The features stored under ``key`` (CPU float32), or None (missing or corrupt).

        A corrupt entry (unreadable, another key, checksum mismatch) is deleted.
        """
        path = self.path(key)
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                feats = f.get_tensor("features")
        except FileNotFoundError:
            self.misses += 1
            return None
        except (SafetensorError, OSError, ValueError, RuntimeError, KeyError) as err:
            self._reject(path, f"unreadable ({err})")
            return None
        problem = _entry_problem(meta, key, feats)
        if problem is not None:
            self._reject(path, problem)
            return None
        _touch(path)
        self.hits += 1
        return feats

    def put(self, key: str, feats: torch.Tensor) -> None:
        """Store ``feats`` (float32) under ``key`` atomically, then keep the cache in bounds."""
        feats = feats.detach().to("cpu", torch.float32).contiguous()
        meta = {"key": key, "sha256": _tensor_sha256(feats)}
        path = self.path(key)
        atomic_write(path, lambda tmp: save_file({"features": feats}, str(tmp), metadata=meta))
        self.stored += 1
        self._total += _size(path)
        if self._total > self.max_bytes:
            self.evict()

    def evict(self) -> None:
        """Delete least recently used entries until the total is within ``max_bytes``."""
        listed = []
        for p in self.entries():
            try:
                st = p.stat()
            except FileNotFoundError:  # removed by another run meanwhile
                continue
            listed.append((st.st_mtime_ns, p.name, st.st_size, p))
        listed.sort()
        total = sum(item[2] for item in listed)
        for _, _, size, p in listed:
            if total <= self.max_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
        self._total = total
        remove_stale_temps(self.root)  # left by runs killed mid-write

    def _reject(self, path: Path, why: str) -> None:
        """Count a corrupt entry as a miss and delete it."""
        logger.warning("feature cache: %s is %s; recomputing", path.name, why)
        path.unlink(missing_ok=True)
        self.corrupt += 1
        self.misses += 1


def _entry_problem(meta: dict[str, str], key: str, feats: torch.Tensor) -> str | None:
    """Why a read entry cannot be trusted, or None when it can."""
    if meta.get("key") != key:
        return "stored under another key"
    if feats.dtype != torch.float32:
        return f"{feats.dtype}, not float32"
    if meta.get("sha256") != _tensor_sha256(feats):
        return "failing its checksum"
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # evicted meanwhile, or a read-only cache
        os.utime(path)


@dataclass(frozen=True)
class CachedFeatures:
    """Features through a ``FeatureCache`` for one model.

    Attributes:
        cache: where entries live.
        model_id: ``model_identity`` of the model whose features are asked for.
    """

    cache: FeatureCache
    model_id: str


def batch_features(
    model: FeatureModel,
    frames: Sequence[np.ndarray],
    batch: torch.Tensor,
    n_last: int,
    *,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
    cached: CachedFeatures | None = None,
) -> torch.Tensor:
    """``extract_features`` of one batch of frames, read from the cache when possible.

    When any frame of the batch is missing from the cache, the whole batch is computed
    (as a run without a cache computes it) and stored, so cached and fresh features are
    the same bits.

    Args:
        model: the backbone (eval mode, on ``device``).
        frames: the batch's raw frames, each (H, W, 3) uint8 RGB (they name the entries).
        batch: (B, 3, H', W') model input of those frames.
        n_last, autocast_dtype: as in ``extract_features``.
        device: where the backbone runs.
        cached: the cache and model identity, or None to compute.

    Returns:
        (B, D, H'/p, W'/p) float32 L2-normalised features.
    """
    if cached is None:
        return extract_features(model, batch.to(device), n_last, autocast_dtype=autocast_dtype)
    key = FeatureKey(
        cached.model_id,
        n_last,
        (int(batch.shape[-2]), int(batch.shape[-1])),
        str(autocast_dtype or torch.float32).removeprefix("torch."),
        torch.device(device).type,
    )
    keys = [key.for_frame(frame) for frame in frames]
    found = []
    for k in keys:
        feats = cached.cache.get(k)
        if feats is None:
            break
        found.append(feats)
    else:
        return torch.stack(found).to(device)
    feats = extract_features(model, batch.to(device), n_last, autocast_dtype=autocast_dtype)
    for k, f in zip(keys, feats, strict=True):
        cached.cache.put(k, f)
    return feats
