"""Named weights: registry, cache folder, download from a local HTTP server, checksums."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from inovos.cli import main
from inovos.errors import InovosError
from inovos.models import arch_spec, build_backbone
from inovos.models import registry as reg
from inovos.models.download import fetch_weights
from inovos.segment.models import load_model_and_source

RELEASE_PATH = "dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, root)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def release(server: tuple[str, Path], tmp_path: Path, monkeypatch) -> tuple[Path, str]:
    """A one-block ViT-S/16 in DINO's release layout, served where dino_vits16 lives."""
    base, root = server
    model = build_backbone(arch_spec("vit_small", 16, 224, depth=1))
    state = {k: v for k, v in model.state_dict().items() if k != "mask_token"}
    file = root / RELEASE_PATH
    file.parent.mkdir(parents=True)
    torch.save(state, file)
    monkeypatch.setenv("INOVOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("INOVOS_WEIGHTS_MIRROR", base)
    return file, hashlib.sha256(file.read_bytes()).hexdigest()


def _with_hash(monkeypatch, sha256: str | None) -> reg.NamedWeights:
    entry = dataclasses.replace(reg.REGISTRY["dino_vits16"], sha256=sha256)
    monkeypatch.setitem(reg.REGISTRY, "dino_vits16", entry)
    return entry


def _cache_files(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []


def test_registry_urls_and_cache_folder(monkeypatch, tmp_path: Path) -> None:
    assert reg.REGISTRY["dino_vitb8"].url == (
        "https://dl.fbaipublicfiles.com/dino/dino_vitbase8_pretrain/dino_vitbase8_pretrain.pth"
    )
    assert reg.REGISTRY["dinov2_vitl14_reg4"].url == (
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth"
    )
    assert reg.REGISTRY["dinov2_vits14"].filename == "dinov2_vits14_pretrain.pth"
    assert {e.patch_size for e in reg.REGISTRY.values()} == {8, 14, 16}
    for var in ("INOVOS_CACHE", "TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert reg.cache_dir() == tmp_path / ".cache" / "torch" / "inovos"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert reg.cache_dir() == tmp_path / "th" / "inovos"
    monkeypatch.setenv("INOVOS_CACHE", str(tmp_path / "ic"))
    assert reg.cache_dir() == tmp_path / "ic"
    assert reg.suggested_preset("dino_vits8", "ino-davis") == "dino-davis"
    assert reg.suggested_preset("dino_vits8", "ino-ytvos") == "ino-ytvos"
    assert reg.suggested_preset("weights.pth", "ino-davis") == "ino-davis"


def test_download_with_the_right_checksum(release, monkeypatch, tmp_path: Path) -> None:
    served, digest = release
    _with_hash(monkeypatch, digest)
    model, source = load_model_and_source("dino_vits16")
    assert (source.kind, source.name, source.sha256) == ("named", "dino_vits16", digest)
    cached = tmp_path / "cache" / "dino_deitsmall16_pretrain.pth"
    assert source.path == str(cached) and cached.read_bytes() == served.read_bytes()
    assert _cache_files(tmp_path) == [cached.name, cached.name + ".sha256"]
    assert (model.patch_size, model.embed_dim, model.depth) == (16, 384, 1)
    served.unlink()  # a second use reads the cache, never the network
    assert load_model_and_source("dino_vits16")[1].sha256 == digest


def test_wrong_checksum_leaves_nothing(release, monkeypatch, tmp_path: Path) -> None:
    _with_hash(monkeypatch, "0" * 64)
    with pytest.raises(InovosError) as caught:
        load_model_and_source("dino_vits16")
    message = str(caught.value)
    assert "expects " + "0" * 64 in message and "nothing was saved" in message
    assert "\n" not in message
    assert _cache_files(tmp_path) == []


def test_server_down_is_one_line_and_leaves_nothing(monkeypatch, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("INOVOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("INOVOS_WEIGHTS_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(InovosError, match=r"cannot download dino_vitb8 from http://127.0.0.1"):
        load_model_and_source("dino_vitb8")
    assert _cache_files(tmp_path) == []


def test_missing_file_on_the_server(release, monkeypatch, tmp_path: Path) -> None:
    with pytest.raises(InovosError, match=r"cannot download dino_vits8 .*: HTTP 404"):
        load_model_and_source("dino_vits8")
    assert _cache_files(tmp_path) == []


def test_first_download_hash_is_recorded_and_verified(release, monkeypatch, tmp_path) -> None:
    _, digest = release
    entry = _with_hash(monkeypatch, None)  # as the DINO releases: no published hash
    path, first = fetch_weights(entry)
    assert first == digest
    assert (path.parent / (path.name + ".sha256")).read_text().strip() == digest
    path.write_bytes(path.read_bytes()[:-1] + b"x")  # the cached file changes
    with pytest.raises(InovosError, match="differs from the one recorded at its first download"):
        fetch_weights(entry)


def test_named_model_on_the_command_line(release, tmp_path: Path, capsys) -> None:
    from inovos.synth import write_synth_davis

    davis = write_synth_davis(
        tmp_path / "d", num_sequences=1, num_frames=3, size=(48, 64), seed=1, progress=False
    )
    out = tmp_path / "out"
    args = ["propagate", "--davis", str(davis), "--model", "dino_vits16", "--out", str(out)]
    assert main([*args, "--short-side", "64", "--no-progress"]) == 0
    assert len(list(out.rglob("*.png"))) == 3
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["model"]["sha256"] == release[1]
    assert record["settings"]["protocol"]["preset"] == "dino-davis"  # the release's preset
    sweep = [*args[:-1], str(tmp_path / "sweep"), "--sweep", "topk=1,2", "--no-progress"]
    assert main([*sweep, "--short-side", "64"]) == 0  # the feature cache keys on the file
