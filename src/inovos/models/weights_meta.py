"""The saved architecture of a weights file, checked against the file's own tensors.

A file whose metadata (or saved training config) disagrees with its tensors is refused
with one line naming the field: loading it anyway would build another network than the
one that was trained (for instance other attention heads) and silently change features.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from inovos.errors import InovosError
from inovos.models.spec import ARCHS, ViTSpec, named_spec, spec_from_model_config

# Fields the tensors determine (the heads are not visible in any tensor shape).
_TENSOR_FIELDS = (
    "embed_dim",
    "depth",
    "patch_size",
    "img_size",
    "mlp_ratio",
    "family",
    "n_registers",
    "ffn",
)
_FLAT_FIELDS = ("arch", "patch_size", "img_size", "embed_dim", "depth", "num_heads", "mlp_ratio")
_RELEASE_NAME = re.compile(r"^(dinov2_vit[sblg]14(?:_reg\d+)?)(?:_pretrain)?\.pth$")


def _compare(saved: ViTSpec, found: ViTSpec, path: Path, what: str) -> None:
    for name in _TENSOR_FIELDS:
        said, has = getattr(saved, name), getattr(found, name)
        if said != has:
            raise InovosError(
                f"{path}: {what} says {name}={said} but its tensors have {name}={has}; "
                "refusing to build another network than the one saved"
            )
    preset = ARCHS.get(saved.arch)
    if saved.arch != "custom" and (preset is None or preset.embed_dim != found.embed_dim):
        width = "unknown" if preset is None else f"width {preset.embed_dim}"
        raise InovosError(
            f"{path}: {what} says arch={saved.arch} ({width}) but its tensors have width "
            f"{found.embed_dim}"
        )


def spec_from_metadata(meta: dict[str, Any], found: ViTSpec, path: Path) -> ViTSpec:
    """The architecture saved in an inovos weights file, checked against its tensors.

    Args:
        meta: the file's JSON metadata (``spec`` since version 2, flat fields before).
        found: the architecture read from the tensors.
        path: the file, for messages.

    Raises:
        InovosError: bad metadata, or metadata that disagrees with the tensors.
    """
    try:
        if "spec" in meta:
            if not isinstance(meta["spec"], dict):
                raise InovosError("'spec' is not an object")
            saved = ViTSpec.from_dict(meta["spec"])
            for name in _FLAT_FIELDS:
                if name in meta and meta[name] != getattr(saved, name):
                    raise InovosError(
                        f"metadata says {name}={meta[name]} in one place and "
                        f"{getattr(saved, name)} in another"
                    )
        else:
            saved = dataclasses.replace(found, **{k: meta[k] for k in _FLAT_FIELDS if k in meta})
    except (InovosError, TypeError, ValueError) as exc:
        raise InovosError(f"{path}: bad architecture in the metadata: {exc}") from None
    _compare(saved, found, path, "the metadata")
    return saved


def spec_from_train(config: dict[str, Any], found: ViTSpec, path: Path) -> ViTSpec:
    """The architecture a project training checkpoint was trained with (its saved config).

    Raises:
        InovosError: a config that describes no valid ViT or disagrees with the weights.
    """
    from inovos.config import ModelConfig

    section = config.get("model", {})
    if not isinstance(section, dict):
        raise InovosError(f"{path}: the saved config's 'model' section is not a mapping")
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    try:
        cfg = ModelConfig(**{k: v for k, v in section.items() if k in names})
        saved = spec_from_model_config(cfg)
    except (InovosError, TypeError) as exc:
        raise InovosError(f"{path}: {exc}") from None
    _compare(saved, found, path, "the saved training config")
    return saved


def check_release_name(path: Path, spec: ViTSpec, expected: ViTSpec | None = None) -> None:
    """A file named like a DINOv2 release must hold that model (patch, size, registers).

    The layout is always read from the content; the name only catches a file that is not
    what its name promises (for instance a ``_reg4`` file without register tokens).

    Raises:
        InovosError: the content differs from the named release.
    """
    if expected is None:
        match = _RELEASE_NAME.match(path.name)
        if not match:
            return
        expected = named_spec(match.group(1))
    name = path.name
    checks = (
        ("family", "the DINOv2 layout (LayerScale weights)"),
        ("patch_size", f"patch size {expected.patch_size}"),
        ("n_registers", f"{expected.n_registers} register tokens"),
        ("embed_dim", f"width {expected.embed_dim}"),
        ("depth", f"{expected.depth} blocks"),
    )
    for field_name, wanted in checks:
        has = getattr(spec, field_name)
        if has != getattr(expected, field_name):
            if field_name == "n_registers" and has == 0:
                raise InovosError(
                    f"{path}: missing register tokens: a {name} file should have "
                    f"{expected.n_registers} ('register_tokens')"
                )
            raise InovosError(f"{path}: a {name} file should have {wanted}, this one has {has}")


__all__ = ["check_release_name", "spec_from_metadata", "spec_from_train"]
