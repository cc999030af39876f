"""The one backbone loader (INO, DINO, DINOv2 and inovos files), saving, and seeded models.

Accepted files (detected from their content, never from their name; see
:func:`inovos.models.readers.read_weights`):

- ``ino``: INO training checkpoint, ``student``/``teacher`` state dicts with
  ``module.backbone.<vit key>`` and head keys ``module.headlist.headlist.0.*``
  (auto picks the student, which INO evaluates).
- ``dino-full``: DINO training checkpoint, ``student``/``teacher`` with ``head.*`` head keys
  (auto picks the teacher).
- ``inovos-train``: a project training checkpoint (auto picks the student); its
  architecture is read from the config saved inside it.
- ``dino-backbone``: a plain ViT state dict (DINO's and DINOv2's released backbone files).
- ``inovos-vit``: the project's safetensors weights, architecture in the JSON metadata.

The architecture is the saved one where the file has it (inovos files), else read from
the tensors (width, depth, patch, LayerScale, registers) with the heads of the size
preset of that width. Metadata that disagrees with the tensors is an error.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from inovos.atomic import atomic_write_bytes
from inovos.errors import InovosError
from inovos.layers.swiglu import swiglu_hidden
from inovos.models.readers import (
    INOVOS_FORMAT,
    METADATA_KEY,
    TRAIN_FORMAT,
    describe_mismatch,
    read_weights,
)
from inovos.models.spec import (
    ARCHS,
    DINOV2_PATCH,
    ViTSpec,
    arch_for_embed_dim,
    named_spec,
)
from inovos.models.vit import VisionTransformer, build_backbone, interpolate_pos_embed
from inovos.models.weights_meta import check_release_name, spec_from_metadata, spec_from_train

logger = logging.getLogger(__name__)

_HEAD_PREFIXES = ("head.", "headlist.")
_OPTIONAL_KEYS = frozenset({"mask_token"})
META_VERSION = 2


@dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`load_backbone` found and built.

    Attributes:
        format: "ino", "dino-full", "inovos-train", "dino-backbone", "safetensors" or "inovos-vit".
        arch: size preset name ("vit_small", ...) or "custom".
        patch_size: patch side of the weights.
        img_size: image side the model's pos_embed grid is built for (after any resize).
        which: "student", "teacher" or "weights" (single-network files).
        path: the file read.
        source_img_size: grid * patch in the file, before any resize.
        embed_dim: token width.
        depth: number of blocks.
        meta: the file's metadata: an inovos JSON header, the checkpoint's ``args``, or the
            project checkpoint's ``config``/``epoch``/``iteration``.
        spec: the architecture built (with the requested img_size).
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
    spec: ViTSpec | None = None


def _tensor_spec(state: dict[str, torch.Tensor], path: Path) -> ViTSpec:
    """The architecture read from the tensors, heads from the preset of that width.

    For a width no preset has, ``arch`` is "custom" and ``num_heads`` a placeholder 1: only
    files that save their architecture can hold such a model.
    """
    swiglu = "blocks.0.mlp.w12.weight" in state
    fc1 = "blocks.0.mlp.w12.weight" if swiglu else "blocks.0.mlp.fc1.weight"
    for key in ("patch_embed.proj.weight", "pos_embed", fc1):
        if key not in state:
            raise InovosError(
                f"no ViT weights found in {path}: key {key!r} missing; keys are {sorted(state)[:20]}"
            )
    proj = state["patch_embed.proj.weight"]  # (D, 3, p, p)
    if proj.ndim != 4 or proj.shape[-1] != proj.shape[-2]:
        raise InovosError(f"{path}: patch_embed.proj.weight has shape {tuple(proj.shape)}")
    embed_dim, patch = int(proj.shape[0]), int(proj.shape[-1])
    pos = state["pos_embed"]
    n = int(pos.shape[1]) - 1 if pos.ndim == 3 else -1
    grid = math.isqrt(max(n, 0))
    if n < 1 or grid * grid != n:
        raise InovosError(f"{path}: pos_embed of shape {tuple(pos.shape)} is not a square grid")
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    dinov2 = "blocks.0.ls1.gamma" in state or getattr(state.get("mask_token"), "ndim", 3) == 2
    registers = state.get("register_tokens")
    n_registers = int(registers.shape[1]) if registers is not None and registers.ndim == 3 else 0
    arch = arch_for_embed_dim(embed_dim) or "custom"
    if dinov2 and patch != DINOV2_PATCH:
        raise InovosError(
            f"{path}: a DINOv2-layout file (LayerScale weights) with patch size {patch}; "
            f"DINOv2 backbones have patch size {DINOV2_PATCH}"
        )
    mlp_ratio = state[fc1].shape[0] / embed_dim
    if swiglu:  # DINOv2 builds ViT-g's gated width from an MLP ratio of 4
        mlp_ratio = 4.0
        if state[fc1].shape[0] != 2 * swiglu_hidden(4 * embed_dim) or not dinov2:
            raise InovosError(
                f"{path}: a SwiGLU feed-forward of shape {tuple(state[fc1].shape)} is not "
                "DINOv2 ViT-g's"
            )
    if n_registers and not dinov2:
        raise InovosError(f"{path}: register tokens without DINOv2's LayerScale weights")
    return ViTSpec(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=ARCHS[arch].num_heads if arch in ARCHS else 1,  # unknown: see _resolve_spec
        patch_size=patch,
        img_size=grid * patch,
        mlp_ratio=mlp_ratio,
        family="dinov2" if dinov2 else "dino",
        n_registers=n_registers,
        arch=arch,
        ffn="swiglu" if swiglu else "mlp",
    )


def _resolve_spec(
    fmt: str, meta: dict[str, Any], state: dict[str, torch.Tensor], path: Path
) -> ViTSpec:
    """The saved architecture (inovos files) checked against the tensors, else the tensors'."""
    found = _tensor_spec(state, path)
    if fmt == INOVOS_FORMAT:
        return spec_from_metadata(meta, found, path)
    if fmt == TRAIN_FORMAT and isinstance(meta.get("config"), dict):
        return spec_from_train(meta["config"], found, path)
    if found.arch not in ARCHS:
        widths = ", ".join(f"{k}={v.embed_dim}" for k, v in ARCHS.items())
        raise InovosError(f"{path}: embed dim {found.embed_dim} matches no arch ({widths})")
    if found.depth != ARCHS[found.arch].depth:
        logger.info("%s: %d blocks (the %s preset has more)", path, found.depth, found.arch)
    return found


def _check_request(path: Path, spec: ViTSpec, arch: str | None, patch_size: int | None) -> None:
    if arch is not None:
        if arch.startswith("dinov2_"):
            check_release_name(path, spec, named_spec(arch))
        elif arch != spec.arch:
            raise InovosError(f"arch mismatch: asked for {arch!r} but {path} holds {spec.arch!r}")
    if patch_size is not None and patch_size != spec.patch_size:
        raise InovosError(
            f"patch_size mismatch: asked for {patch_size} but {path} has patch size "
            f"{spec.patch_size}"
        )


def _load_into(model: VisionTransformer, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ViT keys, ignore head keys, accept only a missing mask_token."""
    vit_state = {k: v for k, v in state.items() if not k.startswith(_HEAD_PREFIXES)}
    expected = model.state_dict()
    given = {k: v for k, v in vit_state.items() if k not in _OPTIONAL_KEYS or k in expected}
    if "mask_token" not in vit_state:
        given["mask_token"] = torch.zeros_like(expected["mask_token"])
        logger.info("%s has no mask_token: using zeros", path)
    problem = describe_mismatch(expected, given)
    if problem:
        raise InovosError(f"weights in {path} do not fit the ViT ({problem})")
    model.load_state_dict(given)


def load_backbone(
    path: str | Path,
    *,
    arch: str | None = None,
    patch_size: int | None = None,
    which: str = "auto",
    img_size: int | None = None,
) -> tuple[VisionTransformer, CheckpointInfo]:
    """Build the saved ViT from an INO, DINO, DINOv2 or inovos file (CPU, eval mode).

    Args:
        path: the checkpoint file.
        arch: expected preset ("vit_small") or DINOv2 model ("dinov2_vits14_reg4"); an error
            if the file holds another architecture.
        patch_size: expected patch size; an error if the file differs.
        which: "auto", "student" or "teacher" (student/teacher checkpoints only).
        img_size: build the pos_embed grid for this image side, resizing the stored one
            once by the family's rule; None keeps the file's grid.

    Returns:
        (model, info).

    Raises:
        InovosError: missing/unreadable file, unknown layout, or a mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise InovosError(f"checkpoint not found: {path}")
    fmt, taken, state, meta = read_weights(path, which)
    spec = _resolve_spec(fmt, meta, state, path)
    check_release_name(path, spec)
    _check_request(path, spec, arch, patch_size)
    p = spec.patch_size
    target = spec.img_size if img_size is None else img_size
    if target <= 0 or target % p != 0:
        raise InovosError(f"img_size {target} must be a positive multiple of patch size {p}")
    if target != spec.img_size:
        g = target // p
        state["pos_embed"] = interpolate_pos_embed(
            state["pos_embed"], g, g, spec.pos_offset, spec.pos_antialias
        )
        logger.info("resized pos_embed of %s from %d to %d pixels", path, spec.img_size, target)
    model = build_backbone(spec.with_img_size(target))
    _load_into(model, state, path)
    model.eval()
    info = CheckpointInfo(
        format=fmt,
        arch=spec.arch,
        patch_size=p,
        img_size=target,
        which=taken,
        path=str(path),
        source_img_size=spec.img_size,
        embed_dim=spec.embed_dim,
        depth=spec.depth,
        meta=meta,
        spec=model.spec,
    )
    logger.info("loaded %s %s/%d (%s) from %s", fmt, spec.arch, p, taken, path)
    return model, info


def weights_metadata(model: VisionTransformer, extra: dict[str, Any] | None = None) -> str:
    """The JSON header :func:`save_weights` stores (raises TypeError on non-JSON ``extra``)."""
    spec = model.spec
    meta = {
        "format": INOVOS_FORMAT,
        "version": META_VERSION,
        "spec": spec.to_dict(),
        # Flat copies for readers that predate "spec" (checked against it when read).
        "arch": spec.arch,
        "patch_size": spec.patch_size,
        "img_size": spec.img_size,
        "embed_dim": spec.embed_dim,
        "depth": spec.depth,
        "num_heads": spec.num_heads,
        "mlp_ratio": spec.mlp_ratio,
        "extra": extra or {},
    }
    return json.dumps(meta)


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

    header = weights_metadata(model, extra)  # fails before anything is written
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write_bytes(Path(path), save(tensors, metadata={METADATA_KEY: header}))


def random_backbone(
    arch: str, patch_size: int | None = None, img_size: int = 64, seed: int = 0
) -> VisionTransformer:
    """A randomly initialised ViT (eval mode), the same for the same seed.

    Args:
        arch: a preset (``vit_small``, patch ``patch_size``, default 8) or a DINOv2 model
            name (``dinov2_vits14``, ``dinov2_vitb14_reg4``, ...: patch 14, 518-pixel grid).
        patch_size: patch side of the presets.
        img_size: positional grid of the presets.
        seed: the initialisation seed.

    The global RNG state is neither used nor changed.
    """
    spec = named_spec(arch, patch_size, img_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_backbone(spec)
    return model.eval()


__all__ = [
    "CheckpointInfo",
    "load_backbone",
    "random_backbone",
    "save_weights",
    "weights_metadata",
]
