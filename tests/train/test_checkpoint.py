"""Training checkpoints: atomic writes, weights_only loading, RNG states, export round trip."""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from inovos.config import config_to_dict, resolve_config
from inovos.errors import InovosError
from inovos.models.checkpoints import load_backbone
from inovos.models.vit import build_backbone
from inovos.propagation.features import extract_features
from inovos.segment.models import load_feature_model
from inovos.train.checkpoint import (
    Position,
    atomic_save,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    restore_training_state,
    training_state,
)
from inovos.train.export import export_backbone
from inovos.train.setup import build_loss, build_model, build_optimizer
from inovos.train.state import TrainState

CPU = torch.device("cpu")


def _tiny(arch_overrides: list[str]):
    return resolve_config(
        "tiny-cpu",
        [
            "model.out_dim=16",
            "model.head_hidden_dim=16",
            "model.head_bottleneck_dim=8",
            *arch_overrides,
        ],
    )


def _trained_parts(config, steps: int = 2):
    """Model, optimiser and loss after a few random optimiser steps (non-trivial state)."""
    torch.manual_seed(0)
    model = build_model(config.model, CPU)
    optimizer = build_optimizer(model.student, config.optim, CPU)
    loss_fn = build_loss(config.loss, config.model.out_dim, CPU)
    for _ in range(steps):
        x = torch.randn(2, 3, 16, 16)
        out = model.student(x, None, None)
        (out.cls.square().mean() + out.patch.mean()).backward()
        optimizer.step()
        optimizer.zero_grad()
        model.update_teacher(0.9)
        loss_fn.cls_center.update(torch.randn(4, config.model.out_dim))
    return model, optimizer, loss_fn


def _state(config, model, optimizer, loss_fn):
    state = TrainState(model, optimizer, loss_fn)
    return training_state(
        state, Position(1, 2, 7), [capture_rng_state()], 1, config_to_dict(config)
    )


def test_atomic_save_failure_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoint.pth"
    atomic_save({"value": torch.arange(3)}, path)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")  # a crash in the middle of the write
        raise OSError("no space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(InovosError, match=r"cannot write .*checkpoint.pth: no space left"):
        atomic_save({"value": torch.arange(5)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert torch.equal(torch.load(path, weights_only=True)["value"], torch.arange(3))
    assert os.listdir(tmp_path) == ["checkpoint.pth"]  # no temporary file left behind

    def crash_before_rename(src, dst):
        raise KeyboardInterrupt  # killed between the write and the rename

    monkeypatch.setattr(os, "replace", crash_before_rename)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"value": torch.arange(7)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_rng_state_round_trip() -> None:
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.random(), np.random.rand(), torch.rand(10)  # move every stream on
    restore_rng_state(state)
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1]
    assert torch.equal(got[2], expected[2])


def test_checkpoint_is_weights_only_and_restores_exactly(tmp_path: Path) -> None:
    config = _tiny(["model.embed_dim=16", "model.depth=1", "model.num_heads=2"])
    model, optimizer, loss_fn = _trained_parts(config)
    path = tmp_path / "checkpoint.pth"
    atomic_save(_state(config, model, optimizer, loss_fn), path)

    raw = torch.load(path, map_location="cpu", weights_only=True)  # plain data only
    assert raw["inovos"]["format"] == "inovos-train"
    assert "module.backbone.pos_embed" in raw["student"]
    assert "module.headlist.headlist.0.last_layer.weight_v" in raw["student"]
    assert (
        "backbone.mask_token" in raw["teacher"]
        and "headlist.headlist.0.mlp.0.weight" in raw["teacher"]
    )
    assert torch.equal(raw["dino_loss_cls_list"]["0.center"], loss_fn.cls_center.center)
    assert raw["dino_loss_hw_list"]["0.center"].shape == (1, 16)
    assert raw["config"] == config_to_dict(config)
    assert (raw["epoch"], raw["iter_in_epoch"], raw["iteration"]) == (1, 2, 7)

    torch.manual_seed(1)  # a different initialisation, then restore
    model2 = build_model(config.model, CPU)
    optimizer2 = build_optimizer(model2.student, config.optim, CPU)
    loss2 = build_loss(config.loss, config.model.out_dim, CPU)
    position = restore_training_state(load_checkpoint(path), TrainState(model2, optimizer2, loss2))
    assert position == Position(1, 2, 7)
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(loss2.cls_center.center, loss_fn.cls_center.center)
    s1, s2 = optimizer.state_dict()["state"], optimizer2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        assert torch.equal(s1[k]["exp_avg_sq"], s2[k]["exp_avg_sq"])


def test_load_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(InovosError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InovosError, match="cannot read"):
        load_checkpoint(tmp_path / "junk.pth")
    torch.save({"student": {}}, tmp_path / "other.pth")
    with pytest.raises(InovosError, match="not an inovos training checkpoint"):
        load_checkpoint(tmp_path / "other.pth")


def test_load_backbone_reads_the_training_checkpoint(tmp_path: Path) -> None:
    # vit_tiny width (192) so that load_backbone infers the arch from the tensors.
    config = _tiny(["model.depth=1"])
    model, optimizer, loss_fn = _trained_parts(config, steps=1)
    path = tmp_path / "checkpoint.pth"
    atomic_save(_state(config, model, optimizer, loss_fn), path)
    vit, info = load_backbone(path, which="teacher")
    assert info.format == "inovos-train" and info.which == "teacher"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(vit(x), model.teacher.backbone(x))


@pytest.mark.parametrize("which", ["student", "teacher"])
def test_export_round_trip_gives_identical_outputs(tmp_path: Path, which: str) -> None:
    config = _tiny(["model.embed_dim=24", "model.depth=2", "model.num_heads=3"])
    model, optimizer, loss_fn = _trained_parts(config)
    path = tmp_path / "checkpoint.pth"
    atomic_save(_state(config, model, optimizer, loss_fn), path)
    out = export_backbone(path, tmp_path / f"{which}.safetensors", which)
    vit, info = load_backbone(out)
    assert info.format == "inovos-vit" and info.embed_dim == 24 and info.depth == 2
    network = model.student if which == "student" else model.teacher
    network.eval()
    x = torch.randn(2, 3, 48, 40)  # non-square: positional embedding resized in both
    mask = torch.rand(2, 30) < 0.3
    with torch.no_grad():
        assert torch.equal(vit(x, mask=mask), network.backbone(x, mask=mask))
    with pytest.raises(InovosError):
        export_backbone(path, tmp_path / "x.safetensors", "both")


def test_overridden_heads_give_the_same_features_from_checkpoint_and_export(
    tmp_path: Path,
) -> None:
    # vit_tiny's width (192) with 6 heads instead of the preset's 3: the heads are not
    # visible in any tensor shape, so only the saved architecture can tell.
    config = _tiny(["model.num_heads=6", "model.depth=2"])
    model, optimizer, loss_fn = _trained_parts(config)
    path = tmp_path / "checkpoint.pth"
    atomic_save(_state(config, model, optimizer, loss_fn), path)
    exported = export_backbone(path, tmp_path / "student.safetensors")
    from_checkpoint = load_feature_model(str(path))
    from_export = load_feature_model(str(exported))
    assert from_checkpoint.num_heads == from_export.num_heads == 6
    x = torch.randn(2, 3, 48, 40)
    feats = extract_features(from_checkpoint, x, n_last=1)
    assert torch.equal(feats, extract_features(from_export, x, n_last=1))
    trained = model.student.backbone.eval()
    with torch.no_grad():
        assert torch.equal(from_checkpoint.block_output(x, 1), trained.block_output(x, 1))
    three_heads = build_backbone(dataclasses.replace(from_checkpoint.spec, num_heads=3)).eval()
    three_heads.load_state_dict(from_checkpoint.state_dict())
    assert not torch.allclose(extract_features(three_heads, x, n_last=1), feats, atol=1e-4)


def test_checkpoint_that_does_not_fit_names_keys_and_shapes(tmp_path: Path) -> None:
    config = _tiny(["model.depth=1"])
    model, optimizer, loss_fn = _trained_parts(config, steps=1)
    state = _state(config, model, optimizer, loss_fn)
    wider = _tiny(["model.depth=1", "model.embed_dim=24", "model.num_heads=3"])
    other, other_opt, other_loss = _trained_parts(wider, steps=1)
    with pytest.raises(InovosError) as caught:
        restore_training_state(state, TrainState(other, other_opt, other_loss))
    message = str(caught.value)
    assert "\n" not in message
    assert "backbone.cls_token (file (1, 1, 192), model (1, 1, 24))" in message


def test_empty_and_truncated_checkpoints_say_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(InovosError, match=f"{empty}: the file is empty \\(0 bytes\\)"):
        load_checkpoint(empty)
    config = _tiny(["model.depth=1"])
    model, optimizer, loss_fn = _trained_parts(config, steps=1)
    path = tmp_path / "checkpoint.pth"
    atomic_save(_state(config, model, optimizer, loss_fn), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for load in (load_checkpoint, load_backbone):
        with pytest.raises(InovosError, match=f"{path}: truncated or corrupt"):
            load(path)
