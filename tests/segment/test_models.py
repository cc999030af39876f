"""`--model` sources: the loader's description of a model, and the feature-layer check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from inovos.cli import main
from inovos.data.synth import write_synth_davis
from inovos.errors import InovosError
from inovos.models import arch_spec, build_backbone, save_weights
from inovos.segment.models import check_feature_layer, load_model_and_source


def _shallow_weights(tmp_path: Path, depth: int = 4) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "shallow.safetensors"
    save_weights(build_backbone(arch_spec("vit_tiny", 16, 64, depth=depth)), path)
    return path


def test_model_source_describes_files_random_and_pixels(tmp_path: Path) -> None:
    path = _shallow_weights(tmp_path)
    model, source = load_model_and_source(str(path))
    assert source.kind == "file" and source.path == str(path) and source.which == "weights"
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.spec == model.spec and source.spec.depth == 4
    _, rnd = load_model_and_source("random:vit_small", seed=5)
    assert (rnd.kind, rnd.seed, rnd.sha256, rnd.spec.embed_dim) == ("random", 5, None, 384)
    _, pix = load_model_and_source("pixels")
    assert (pix.kind, pix.spec, pix.sha256) == ("pixels", None, None)


def test_feature_layer_deeper_than_the_model_is_refused(tmp_path: Path) -> None:
    model, _ = load_model_and_source(str(_shallow_weights(tmp_path)))
    check_feature_layer(model, 4)
    with pytest.raises(InovosError, match=r"has 4 blocks.*n=6.*--layer N with 1 <= N <= 4"):
        check_feature_layer(model, 6)


def test_propagate_with_a_shallow_export_gives_one_line(tmp_path: Path, capsys) -> None:
    davis = write_synth_davis(
        tmp_path / "d", num_sequences=1, num_frames=3, size=(48, 64), seed=1, progress=False
    )
    weights = _shallow_weights(tmp_path)
    out = tmp_path / "out"
    args = ["propagate", "--davis", str(davis), "--model", str(weights), "--out", str(out)]
    assert main([*args, "--short-side", "48", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "the model has 4 blocks" in err and "--layer" in err
    assert not out.exists() or not any(out.rglob("*.png"))
    assert main([*args, "--short-side", "48", "--no-progress", "--layer", "2"]) == 0
