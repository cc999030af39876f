"""`--model` sources: the loader's description of a model, and the feature-layer check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from inovos.cli import main
from inovos.errors import InovosError
from inovos.formats.palette import read_label_png
from inovos.models import arch_spec, build_backbone, random_backbone, save_weights
from inovos.segment.models import check_feature_layer, load_model_and_source, preferred_layer
from inovos.synth import write_synth_davis
from inovos.vos.davis import DavisDataset


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


def test_dinov2_release_file_works_in_propagate_and_track(tmp_path: Path) -> None:
    # A random model saved exactly like the released dinov2_vits14_pretrain.pth.
    weights = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(random_backbone("dinov2_vits14", seed=2).state_dict(), weights)
    model, source = load_model_and_source(str(weights))
    assert source.spec is not None and source.spec.family == "dinov2"
    assert preferred_layer(model) == 1
    davis = write_synth_davis(
        tmp_path / "d", num_sequences=1, num_frames=4, size=(60, 80), seed=2, progress=False
    )
    common = ["--model", str(weights), "--short-side", "56", "--no-progress", "--device", "cpu"]
    outs = {}
    for name, extra in (("default", []), ("layer1", ["--layer", "1"])):
        outs[name] = tmp_path / name
        assert (
            main(["propagate", "--davis", str(davis), "--out", str(outs[name]), *common, *extra])
            == 0
        )
    seq = DavisDataset(davis)[0]
    for frame in seq.frame_names:
        a = read_label_png(outs["default"] / seq.name / f"{frame}.png")
        assert a.shape == (60, 80)
        np.testing.assert_array_equal(a, read_label_png(outs["layer1"] / seq.name / f"{frame}.png"))
    frames = davis / "JPEGImages" / "480p" / seq.name
    mask = davis / "Annotations" / "480p" / seq.name / f"{seq.frame_names[0]}.png"
    track_out = tmp_path / "track"
    args = ["track", str(frames), "--mask", str(mask), "--out", str(track_out), "--no-video"]
    assert main([*args, *common]) == 0
    assert len(list(track_out.glob("*.png"))) == len(seq.frame_names)


def test_random_dinov2_shaped_model_from_the_command_line(tmp_path: Path) -> None:
    davis = write_synth_davis(
        tmp_path / "d", num_sequences=1, num_frames=3, size=(48, 64), seed=4, progress=False
    )
    out = tmp_path / "out"
    args = ["propagate", "--davis", str(davis), "--out", str(out), "--no-progress"]
    assert main([*args, "--model", "random:dinov2_vits14_reg4", "--short-side", "42"]) == 0
    assert len(list(out.rglob("*.png"))) == 3


def test_segmenter_reads_dinov2_at_the_last_block_and_refuses_a_shallow_model(
    tmp_path: Path,
) -> None:
    from inovos.api import VideoSegmenter, load_model

    dinov2 = load_model("random:dinov2_vits14")
    assert VideoSegmenter(dinov2).params.n_last == 1
    assert VideoSegmenter(dinov2, layer=4).params.n_last == 4
    assert VideoSegmenter(load_model("random:vit_tiny")).params.n_last == 6
    with pytest.raises(InovosError, match="the model has 4 blocks"):
        VideoSegmenter(load_model(str(_shallow_weights(tmp_path))))
