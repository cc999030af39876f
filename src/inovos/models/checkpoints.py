"""Load ViT backbones from INO, DINO and inovos files; save and seed the project's own weights.

Accepted files (detected from their content, never from their name):

- ``ino``: INO training checkpoint, ``student``/``teacher`` state dicts with
  ``module.backbone.<vit key>`` and head keys ``module.headlist.headlist.0.*``
  (auto picks the student, which INO evaluates).
- ``dino-full``: DINO training checkpoint, ``student``/``teacher`` with ``head.*`` head keys
  (auto picks the teacher).
- ``inovos-train``: a project training checkpoint with ``student``/``teacher`` and a
  top-level ``inovos`` entry (auto picks the student).
- ``dino-backbone``: a plain ViT state dict (DINO's released backbone files).
- ``inovos-vit``: the project's safetensors weights with JSON metadata under ``inovos``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from inovos.atomic import atomic_write_bytes
from inovos.errors import InovosError
from inovos.models.vit import (
    ARCHS,
    PATCH_SIZES,
    VisionTransformer,
    arch_for_embed_dim,
    build_vit,
    interpolate_pos_embed,
)

logger = logging.getLogger(__name__)

INOVOS_FORMAT = "inovos-vit"
METADATA_KEY = "inovos"
WHICH_CHOICES = ("auto", "student", "teacher")
_PREFIXES = ("module.", "backbone.", "_orig_mod.")
_HEAD_PREFIXES = ("head.", "headlist.")
_OPTIONAL_KEYS = frozenset({"mask_token"})


@dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`load_backbone` found and built.

    Attributes:
        format: "ino", "dino-full", "inovos-train", "dino-backbone", "safetensors" or "inovos-vit".
        arch: preset name ("vit_small", ...) or what an inovos file recorded.
        patch_size: patch side of the weights.
        img_size: image side the model's pos_embed grid is built for (after any resize).
        which: "student", "teacher" or "weights" (single-network files).
        path: the file read.
        source_img_size: grid * patch in the file, before any resize.
        embed_dim: token width.
        depth: number of blocks.
        meta: the file's metadata: an inovos JSON header or the checkpoint's ``args``.
    """

    format: str
    arch: str
    patch_size: int
    img_size: int
    which: str
    path: str
    source_img_size: int
    embed_dim: int
    depth: int
    meta: dict[str, Any] = field(default_factory=dict)


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _clean_state_dict(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Tensors only, with ``module.``/``backbone.``/``_orig_mod.`` prefixes removed."""
    return {_strip_prefixes(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _is_tensor_dict(obj: object) -> bool:
    return isinstance(obj, dict) and any(isinstance(v, torch.Tensor) for v in obj.values())


def _is_safetensors(path: Path) -> bool:
    """Safetensors files start with a little-endian u64 header length, then '{'."""
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:
        raise InovosError(f"cannot read safetensors file {path}: {exc}") from exc
    return tensors, metadata


def _read_torch(path: Path) -> object:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InovosError(f"cannot read checkpoint {path} safely (weights_only): {first}") from exc
    except Exception as exc:
        raise InovosError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def _pick_network(raw: dict[str, Any], which: str) -> tuple[str, str, dict[str, Any]]:
    """(format, which taken, state dict) from a student/teacher checkpoint."""
    some = raw.get("student") if _is_tensor_dict(raw.get("student")) else raw.get("teacher")
    keys = [_strip_prefixes(k) for k in some] if isinstance(some, dict) else []
    if METADATA_KEY in raw:
        fmt, default = "inovos-train", "student"
    elif any(k.startswith("headlist.") for k in keys):
        fmt, default = "ino", "student"
    else:
        if not any(k.startswith("head.") for k in keys):
            logger.warning("student/teacher checkpoint without head keys: treating it as DINO")
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
    """The run's settings: ``args`` (Namespace or dict) or ``{"config": ...}``."""
    args = raw.get("args")
    if isinstance(args, argparse.Namespace):
        return dict(vars(args))
    if isinstance(args, dict):
        return dict(args)
    config = raw.get("config")
    return {"config": config} if isinstance(config, dict) else {}


def _read_weights(
    path: Path, which: str
) -> tuple[str, str, dict[str, torch.Tensor], dict[str, Any]]:
    """(format, which taken, cleaned tensors, metadata) of any accepted file."""
    if _is_safetensors(path):
        tensors, header = _read_safetensors(path)
        if METADATA_KEY in header:
            try:
                meta = json.loads(header[METADATA_KEY])
            except json.JSONDecodeError as exc:
                raise InovosError(f"{path}: bad '{METADATA_KEY}' metadata: {exc}") from exc
            if not isinstance(meta, dict) or meta.get("format") != INOVOS_FORMAT:
                raise InovosError(f"{path}: metadata format is not {INOVOS_FORMAT!r}")
            fmt = INOVOS_FORMAT
        else:
            fmt, meta = "safetensors", {}
        taken, state = "weights", tensors
    else:
        raw = _read_torch(path)
        if not isinstance(raw, dict):
            raise InovosError(f"no ViT weights found in {path}: it holds a {type(raw).__name__}")
        if "student" in raw or "teacher" in raw:
            fmt, taken, state = _pick_network(raw, which)
            meta = _checkpoint_meta(raw)
        elif _is_tensor_dict(raw) and any(
            _strip_prefixes(str(k)) == "patch_embed.proj.weight" for k in raw
        ):
            fmt, taken, state, meta = "dino-backbone", "weights", raw, {}
        else:
            raise InovosError(
                f"no ViT weights found in {path}: top-level keys are {sorted(map(str, raw))[:20]}"
            )
    if taken == "weights" and which != "auto":
        raise InovosError(f"{path} ({fmt}) holds one network: which={which!r} does not apply")
    return fmt, taken, _clean_state_dict(state), meta


def _infer_dims(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """embed_dim, patch_size, depth, grid and mlp_ratio read from the tensors."""
    for key in ("patch_embed.proj.weight", "pos_embed", "blocks.0.mlp.fc1.weight"):
        if key not in state:
            raise InovosError(
                f"no ViT weights found in {path}: key {key!r} missing; keys are {sorted(state)[:20]}"
            )
    proj = state["patch_embed.proj.weight"]  # (D, 3, p, p)
    embed_dim, patch_size = int(proj.shape[0]), int(proj.shape[-1])
    if state["pos_embed"].ndim != 3:
        raise InovosError(f"{path}: pos_embed has shape {tuple(state['pos_embed'].shape)}")
    n = int(state["pos_embed"].shape[1]) - 1
    grid = math.isqrt(n)
    if grid * grid != n:
        raise InovosError(f"{path}: pos_embed has {n} patch positions, not a square grid")
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("blocks.")}
    depth = max(blocks) + 1
    mlp_ratio = state["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    return {
        "embed_dim": embed_dim,
        "patch_size": patch_size,
        "depth": depth,
        "grid": grid,
        "mlp_ratio": mlp_ratio,
    }


def _resolve_arch(
    fmt: str, meta: dict[str, Any], dims: dict[str, Any], path: Path
) -> tuple[str, int]:
    """(arch name, num_heads): from inovos metadata, else the preset with the file's width."""
    arch_name = arch_for_embed_dim(dims["embed_dim"])
    if fmt == INOVOS_FORMAT:
        arch_name, num_heads = str(meta.get("arch", arch_name)), int(meta.get("num_heads", 0))
        if num_heads <= 0 or dims["embed_dim"] % num_heads:
            raise InovosError(f"{path}: bad num_heads {num_heads} in the metadata")
        return arch_name, num_heads
    if arch_name is None:
        widths = ", ".join(f"{k}={v.embed_dim}" for k, v in ARCHS.items())
        raise InovosError(f"{path}: embed dim {dims['embed_dim']} matches no arch ({widths})")
    if dims["depth"] != ARCHS[arch_name].depth:
        logger.info("%s: %d blocks (the %s preset has 12)", path, dims["depth"], arch_name)
    return arch_name, ARCHS[arch_name].num_heads


def _check_request(
    path: Path, dims: dict[str, Any], arch_name: str, arch: str | None, patch_size: int | None
) -> None:
    if arch is not None and arch != arch_name:
        raise InovosError(f"arch mismatch: asked for {arch!r} but {path} holds {arch_name!r}")
    if patch_size is not None and patch_size != dims["patch_size"]:
        raise InovosError(
            f"patch_size mismatch: asked for {patch_size} but {path} has patch size "
            f"{dims['patch_size']}"
        )


def _load_into(model: VisionTransformer, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ViT keys, ignore head keys, accept only a missing mask_token."""
    vit_state = {k: v for k, v in state.items() if not k.startswith(_HEAD_PREFIXES)}
    try:
        missing, unexpected = model.load_state_dict(vit_state, strict=False)
    except RuntimeError as exc:
        raise InovosError(f"weights in {path} do not fit the ViT: {exc}") from exc
    bad_missing = sorted(set(missing) - _OPTIONAL_KEYS)
    if bad_missing or unexpected:
        raise InovosError(
            f"weights in {path} do not match the ViT: missing {bad_missing[:10]}, "
            f"unexpected {sorted(unexpected)[:10]}"
        )
    if "mask_token" in missing:
        with torch.no_grad():
            model.mask_token.zero_()
        logger.info("%s has no mask_token: using zeros", path)


def load_backbone(
    path: str | Path,
    *,
    arch: str | None = None,
    patch_size: int | None = None,
    which: str = "auto",
    img_size: int | None = None,
) -> tuple[VisionTransformer, CheckpointInfo]:
    """Build a ViT from an INO, DINO or inovos file (CPU, eval mode, no network).

    Args:
        path: the checkpoint file.
        arch: expected preset; an error if the file holds another width.
        patch_size: expected patch size; an error if the file differs.
        which: "auto", "student" or "teacher" (student/teacher checkpoints only).
        img_size: build the pos_embed grid for this image side, resizing the stored one
            once (bicubic, DINO's scale-factor rule); None keeps the file's grid.

    Returns:
        (model, info).

    Raises:
        InovosError: missing/unreadable file, unknown layout, or a mismatch.
    """
    path = Path(path)
    if which not in WHICH_CHOICES:
        raise InovosError(f"which must be one of {WHICH_CHOICES}, got {which!r}")
    if not path.is_file():
        raise InovosError(f"checkpoint not found: {path}")
    fmt, taken, state, meta = _read_weights(path, which)
    dims = _infer_dims(state, path)
    arch_name, num_heads = _resolve_arch(fmt, meta, dims, path)
    _check_request(path, dims, arch_name, arch, patch_size)
    p = dims["patch_size"]
    source_img_size = dims["grid"] * p
    target = source_img_size if img_size is None else img_size
    if target <= 0 or target % p != 0:
        raise InovosError(f"img_size {target} must be a positive multiple of patch size {p}")
    if target != source_img_size:
        pos = state["pos_embed"]
        state["pos_embed"] = interpolate_pos_embed(pos.float(), target // p, target // p).to(
            pos.dtype
        )
        logger.info("resized pos_embed of %s from %d to %d pixels", path, source_img_size, target)
    model = VisionTransformer(
        img_size=target,
        patch_size=p,
        embed_dim=dims["embed_dim"],
        depth=dims["depth"],
        num_heads=num_heads,
        mlp_ratio=dims["mlp_ratio"],
    )
    _load_into(model, state, path)
    model.eval()
    info = CheckpointInfo(
        format=fmt,
        arch=arch_name,
        patch_size=p,
        img_size=target,
        which=taken,
        path=str(path),
        source_img_size=source_img_size,
        embed_dim=dims["embed_dim"],
        depth=dims["depth"],
        meta=meta,
    )
    logger.info("loaded %s %s/%d (%s) from %s", fmt, arch_name, p, taken, path)
    return model, info


def save_weights(
    model: VisionTransformer, path: str | Path, extra: dict[str, Any] | None = None
) -> None:
    """Write the backbone as one safetensors file with JSON metadata, atomically.

    Args:
        model: the ViT to save.
        path: destination (``.safetensors`` by convention); parent folders are created.
        extra: JSON-serialisable data stored under ``"extra"`` in the metadata.
    """
    from safetensors.torch import save

    path = Path(path)
    meta = {
        "format": INOVOS_FORMAT,
        "version": 1,
        "arch": arch_for_embed_dim(model.embed_dim) or "custom",
        "patch_size": model.patch_size,
        "img_size": model.img_size,
        "embed_dim": model.embed_dim,
        "depth": model.depth,
        "num_heads": model.num_heads,
        "mlp_ratio": model.mlp_ratio,
        "extra": extra or {},
    }
    header = json.dumps(meta)  # raises TypeError on non-JSON extra before anything is written
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: header}))


def random_backbone(
    arch: str, patch_size: int, img_size: int = 64, seed: int = 0
) -> VisionTransformer:
    """A randomly initialised ViT (eval mode), the same for the same seed.

    The global RNG state is neither used nor changed.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_vit(arch, patch_size, img_size)
    return model.eval()


__all__ = [
    "PATCH_SIZES",
    "CheckpointInfo",
    "load_backbone",
    "random_backbone",
    "save_weights",
]
