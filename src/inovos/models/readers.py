"""Read weights files safely, tell their layouts apart, and explain what does not fit.

Every ``torch.load`` of the project goes through :func:`read_torch_file`: tensors and
plain data only (``weights_only``), and one-line errors that name the file and the
problem (empty, truncated, a class that would need unpickling) without ever advising
to turn the safety off.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from inovos.errors import InovosError

INOVOS_FORMAT = "inovos-vit"
METADATA_KEY = "inovos"
TRAIN_FORMAT = "inovos-train"
WHICH_CHOICES = ("auto", "student", "teacher")
_PREFIXES = ("module.", "backbone.", "_orig_mod.")
_BLOCKED = re.compile(r"GLOBAL ([\w.]+)")


def read_torch_file(path: Path, map_location: str | torch.device = "cpu") -> object:
    """``torch.load(path, weights_only=True)`` with one-line errors.

    Raises:
        InovosError: empty, truncated or corrupt file, or one that needs unpickling a
            class (named in the message).
    """
    size = path.stat().st_size
    if size == 0:
        raise InovosError(f"cannot read checkpoint {path}: the file is empty (0 bytes)")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        blocked = _BLOCKED.search(str(exc))
        if blocked:
            raise InovosError(
                f"refusing to read checkpoint {path}: it stores a {blocked.group(1)} object, "
                "and unpickling it could run code from the file; only tensors and plain "
                "data are read"
            ) from None
        raise InovosError(
            f"cannot read checkpoint {path}: truncated or corrupt ({size} bytes)"
        ) from None
    except OSError as exc:
        raise InovosError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # the unpickler raises many types on damaged bytes
        first = str(exc).strip().split(". ")[0].splitlines()[0] if str(exc).strip() else ""
        detail = f": {first}" if first and len(first) < 120 else ""
        raise InovosError(
            f"cannot read checkpoint {path}: truncated or corrupt ({size} bytes{detail})"
        ) from None


def describe_mismatch(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], limit: int = 3
) -> str:
    """The first keys that differ between two state dicts, with shapes ('' when they fit).

    Args:
        expected: the model's state dict.
        given: the file's tensors.
        limit: how many keys of each kind to name.
    """
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [
        f"{k} (file {tuple(given[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in given and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    for label, items in (("shape", shapes), ("missing", missing), ("unexpected", unexpected)):
        if items:
            more = f" and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{label}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts)


def strip_prefixes(key: str) -> str:
    """``module.``/``backbone.``/``_orig_mod.`` removed from the front, repeatedly."""
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _clean(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {strip_prefixes(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _is_tensor_dict(obj: object) -> bool:
    return isinstance(obj, dict) and any(isinstance(v, torch.Tensor) for v in obj.values())


def _is_safetensors(path: Path) -> bool:
    """Safetensors files start with a little-endian u64 header length, then '{'."""
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InovosError(f"cannot read safetensors file {path}: {first}") from None
    if METADATA_KEY not in header:
        return tensors, {}, "safetensors"
    try:
        meta = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise InovosError(f"{path}: bad '{METADATA_KEY}' metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != INOVOS_FORMAT:
        raise InovosError(f"{path}: metadata format is not {INOVOS_FORMAT!r}")
    return tensors, meta, INOVOS_FORMAT


def _pick_network(raw: dict[str, Any], which: str) -> tuple[str, str, dict[str, Any]]:
    """(format, which taken, state dict) from a student/teacher checkpoint."""
    some = raw.get("student") if _is_tensor_dict(raw.get("student")) else raw.get("teacher")
    keys = [strip_prefixes(k) for k in some] if isinstance(some, dict) else []
    if METADATA_KEY in raw:
        fmt, default = TRAIN_FORMAT, "student"
    elif any(k.startswith("headlist.") for k in keys):
        fmt, default = "ino", "student"
    else:
        fmt, default = "dino-full", "teacher"
    taken = default if which == "auto" else which
    state = raw.get(taken)
    if not _is_tensor_dict(state):
        raise InovosError(
            f"{fmt} checkpoint has no {taken!r} weights: top-level keys are {sorted(map(str, raw))}"
        )
    assert isinstance(state, dict)
    return fmt, taken, state


def _checkpoint_meta(raw: dict[str, Any]) -> dict[str, Any]:
    """The run's settings: ``args`` (Namespace or dict) or the project's config and position."""
    args = raw.get("args")
    if isinstance(args, argparse.Namespace):
        return dict(vars(args))
    if isinstance(args, dict):
        return dict(args)
    meta: dict[str, Any] = {}
    if isinstance(raw.get("config"), dict):
        meta["config"] = raw["config"]
    for key in ("epoch", "iteration"):
        if isinstance(raw.get(key), int):
            meta[key] = raw[key]
    return meta


def read_weights(
    path: Path, which: str = "auto"
) -> tuple[str, str, dict[str, torch.Tensor], dict[str, Any]]:
    """(format, which taken, tensors with prefixes removed, metadata) of any accepted file.

    Formats: ``inovos-vit`` and plain ``safetensors``; ``inovos-train``, ``ino`` and
    ``dino-full`` student/teacher checkpoints; ``dino-backbone`` plain ViT state dicts
    (DINO's and DINOv2's released files). Detected from the content, never the name.

    Raises:
        InovosError: unreadable file, unknown layout, or ``which`` that does not apply.
    """
    if which not in WHICH_CHOICES:
        raise InovosError(f"which must be one of {WHICH_CHOICES}, got {which!r}")
    if _is_safetensors(path):
        tensors, meta, fmt = _read_safetensors(path)
        taken, state = "weights", tensors
    else:
        raw = read_torch_file(path)
        if not isinstance(raw, dict):
            raise InovosError(f"no ViT weights found in {path}: it holds a {type(raw).__name__}")
        if "student" in raw or "teacher" in raw:
            fmt, taken, state = _pick_network(raw, which)
            meta = _checkpoint_meta(raw)
        elif _is_tensor_dict(raw) and any(
            strip_prefixes(str(k)) == "patch_embed.proj.weight" for k in raw
        ):
            fmt, taken, state, meta = "dino-backbone", "weights", raw, {}
        else:
            raise InovosError(
                f"no ViT weights found in {path}: top-level keys are {sorted(map(str, raw))[:20]}"
            )
    if taken == "weights" and which != "auto":
        raise InovosError(f"{path} ({fmt}) holds one network: which={which!r} does not apply")
    return fmt, taken, _clean(state), meta


__all__ = [
    "INOVOS_FORMAT",
    "METADATA_KEY",
    "TRAIN_FORMAT",
    "WHICH_CHOICES",
    "describe_mismatch",
    "read_torch_file",
    "read_weights",
    "strip_prefixes",
]
