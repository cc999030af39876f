"""Named public weights: ``--model dino_vits16`` and friends, downloaded once into a cache.

Each entry gives the release's URL, its SHA-256 where one is published, the architecture
and patch the file must hold, and the propagation preset its authors evaluate with. The
DINO and DINOv2 releases publish no checksums (and, unlike some torch hub files, carry no
hash in their names), so their entries have none: the SHA-256 of the first download is
recorded beside the file in the cache and every later use is verified against it.

Cache folder: ``$INOVOS_CACHE``, else ``$TORCH_HOME/inovos``, else
``~/.cache/torch/inovos`` (``$XDG_CACHE_HOME`` replacing ``~/.cache`` when set).
``$INOVOS_WEIGHTS_MIRROR`` replaces the scheme and host of every URL (a local mirror
serving the same paths).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DINO_BASE = "https://dl.fbaipublicfiles.com/dino"
DINOV2_BASE = "https://dl.fbaipublicfiles.com/dinov2"


@dataclass(frozen=True)
class NamedWeights:
    """One public release.

    Attributes:
        name: what ``--model`` accepts.
        url: where the file is published.
        sha256: the published SHA-256, or None when the release publishes none.
        arch: the architecture the file must hold (a size preset or a DINOv2 model name).
        patch_size: its patch side.
        preset: the propagation preset used when the command line names none.
    """

    name: str
    url: str
    sha256: str | None
    arch: str
    patch_size: int
    preset: str

    @property
    def filename(self) -> str:
        """The file's name in the cache (the release's own file name)."""
        return Path(urlsplit(self.url).path).name


def _dino(name: str, release: str, arch: str, patch: int) -> NamedWeights:
    url = f"{DINO_BASE}/{release}/{release}.pth"
    return NamedWeights(name, url, None, arch, patch, "dino-davis")


def _dinov2(size: str, registers: bool) -> NamedWeights:
    base = f"dinov2_vit{size}14"
    name = base + ("_reg4" if registers else "")
    url = f"{DINOV2_BASE}/{base}/{name}_pretrain.pth"
    return NamedWeights(name, url, None, name, 14, "dino-davis")


REGISTRY: dict[str, NamedWeights] = {
    w.name: w
    for w in (
        _dino("dino_vits16", "dino_deitsmall16_pretrain", "vit_small", 16),
        _dino("dino_vits8", "dino_deitsmall8_pretrain", "vit_small", 8),
        _dino("dino_vitb16", "dino_vitbase16_pretrain", "vit_base", 16),
        _dino("dino_vitb8", "dino_vitbase8_pretrain", "vit_base", 8),
        *(_dinov2(size, reg) for size in "sblg" for reg in (False, True)),
    )
}


def cache_dir() -> Path:
    """Where named weights are kept (see the module docstring)."""
    if os.environ.get("INOVOS_CACHE"):
        return Path(os.environ["INOVOS_CACHE"]).expanduser()
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "inovos"
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "torch" / "inovos"


def download_url(entry: NamedWeights) -> str:
    """The entry's URL, or the same path on ``$INOVOS_WEIGHTS_MIRROR`` when it is set."""
    mirror = os.environ.get("INOVOS_WEIGHTS_MIRROR")
    if not mirror:
        return entry.url
    return mirror.rstrip("/") + urlsplit(entry.url).path


def suggested_preset(source: str, data_default: str) -> str:
    """The preset for ``--model source`` when none is named: the entry's for DAVIS-style data.

    Args:
        source: the ``--model`` value.
        data_default: the data's own default preset ("ino-davis", "ino-ytvos").
    """
    entry = REGISTRY.get(source)
    if entry is None or data_default != "ino-davis" or Path(source).exists():
        return data_default
    return entry.preset


__all__ = [
    "REGISTRY",
    "NamedWeights",
    "cache_dir",
    "download_url",
    "suggested_preset",
]
