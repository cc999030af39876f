"""Checkpoint loading for every accepted layout, the safetensors round trip, and the errors."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

from inovos.errors import InovosError
from inovos.layers import DINOHead
from inovos.models import (
    VisionTransformer,
    arch_spec,
    build_backbone,
    load_backbone,
    random_backbone,
    save_weights,
)


@dataclass
class NotAllowed:
    """A class that a weights_only load must refuse to unpickle."""

    value: int = 1


def _model(seed: int, img_size: int = 64, patch_size: int = 8) -> VisionTransformer:
    torch.manual_seed(seed)
    return build_backbone(arch_spec("vit_tiny", patch_size, img_size, depth=2)).eval()


def _head_state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return DINOHead(192, out_dim=20, hidden_dim=16, bottleneck_dim=8).state_dict()


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v.clone() for k, v in state.items()}


def _outputs(model: VisionTransformer, size: tuple[int, int] = (64, 64)) -> torch.Tensor:
    torch.manual_seed(123)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        return model.eval()(x)


def _args() -> argparse.Namespace:
    return argparse.Namespace(
        arch="vit_tiny", patch_size=8, lr=3e-3, global_crops_scale=(0.8, 0.95)
    )


def _write_ino(path: Path, student: VisionTransformer, teacher: VisionTransformer) -> None:
    torch.save(
        {
            "student": _prefixed(student.state_dict(), "module.backbone.")
            | _prefixed(_head_state(1), "module.headlist.headlist.0."),
            "teacher": _prefixed(teacher.state_dict(), "backbone.")
            | _prefixed(_head_state(2), "headlist.headlist.0."),
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
            "epoch": 4,
            "args": _args(),
            "dino_loss_cls_list": [{"center": torch.zeros(1, 20)}],
            "dino_loss_hw_list": [{"0.center": torch.zeros(1, 20)}],
            "fp16_scaler": {"scale": 1024.0, "growth_factor": 2.0, "_growth_tracker": 3},
        },
        path,
    )


def _write_dino_full(path: Path, student: VisionTransformer, teacher: VisionTransformer) -> None:
    torch.save(
        {
            "student": _prefixed(student.state_dict(), "module.backbone.")
            | _prefixed(_head_state(1), "module.head."),
            "teacher": _prefixed(teacher.state_dict(), "backbone.")
            | _prefixed(_head_state(2), "head."),
            "optimizer": {"state": {}, "param_groups": []},
            "epoch": 100,
            "args": _args(),
            "dino_loss": {"center": torch.zeros(1, 20)},
        },
        path,
    )


def _dino_backbone_state(model: VisionTransformer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k != "mask_token"}


def test_ino_checkpoint_student_by_default_teacher_on_request(tmp_path: Path) -> None:
    student, teacher = _model(1), _model(2)
    path = tmp_path / "ino.pth"
    _write_ino(path, student, teacher)
    model, info = load_backbone(path)
    assert (info.format, info.which, info.arch, info.patch_size, info.img_size) == (
        "ino",
        "student",
        "vit_tiny",
        8,
        64,
    )
    assert info.depth == 2 and info.meta["lr"] == 3e-3
    assert torch.equal(_outputs(model), _outputs(student))
    assert torch.equal(model.mask_token, student.mask_token)
    model_t, info_t = load_backbone(path, which="teacher", arch="vit_tiny", patch_size=8)
    assert info_t.which == "teacher"
    assert torch.equal(_outputs(model_t), _outputs(teacher))
    assert not torch.equal(_outputs(model_t), _outputs(student))


def test_project_training_checkpoint_student_by_default(tmp_path: Path) -> None:
    student, teacher = _model(1), _model(2)
    path = tmp_path / "train.pth"
    _write_ino(path, student, teacher)
    ckpt = torch.load(path, weights_only=False)
    del ckpt["args"]
    ckpt["inovos"] = {"format": "inovos-train", "version": 1}
    ckpt["config"] = {"model": {"arch": "vit_tiny", "depth": 2}}
    torch.save(ckpt, path)
    model, info = load_backbone(path)
    assert (info.format, info.which) == ("inovos-train", "student")
    assert info.meta == {"config": {"model": {"arch": "vit_tiny", "depth": 2}}, "epoch": 4}
    assert torch.equal(_outputs(model), _outputs(student))


def test_dino_full_checkpoint_teacher_by_default(tmp_path: Path) -> None:
    student, teacher = _model(1, img_size=224, patch_size=16), _model(2, 224, 16)
    path = tmp_path / "checkpoint.pth"
    _write_dino_full(path, student, teacher)
    model, info = load_backbone(path)
    assert (info.format, info.which, info.patch_size, info.img_size) == (
        "dino-full",
        "teacher",
        16,
        224,
    )
    assert torch.equal(_outputs(model, (96, 80)), _outputs(teacher, (96, 80)))
    model_s, _ = load_backbone(path, which="student")
    assert torch.equal(_outputs(model_s, (96, 80)), _outputs(student, (96, 80)))


def test_dino_backbone_file_without_mask_token(tmp_path: Path, caplog) -> None:
    source = _model(3, img_size=224, patch_size=16)
    path = tmp_path / "dino_vittiny16_pretrain.pth"
    torch.save(_dino_backbone_state(source), path)
    with caplog.at_level(logging.INFO, logger="inovos.models.checkpoints"):
        model, info = load_backbone(path)
    assert "mask_token" in caplog.text
    assert (info.format, info.which, info.img_size, info.source_img_size) == (
        "dino-backbone",
        "weights",
        224,
        224,
    )
    assert torch.all(model.mask_token == 0)
    assert torch.equal(_outputs(model, (64, 48)), _outputs(source, (64, 48)))


def test_dino_backbone_resized_to_64_grid_follows_bicubic_rule(tmp_path: Path) -> None:
    source = _model(4, img_size=224, patch_size=8)  # 28 x 28 grid
    path = tmp_path / "dino_s8.pth"
    torch.save(_dino_backbone_state(source), path)
    model, info = load_backbone(path, img_size=64)
    assert (info.img_size, info.source_img_size) == (64, 224)
    pos = source.pos_embed.detach()
    grid = pos[:, 1:].reshape(1, 28, 28, 192).permute(0, 3, 1, 2)
    resized = F.interpolate(
        grid, scale_factor=(8.1 / 28, 8.1 / 28), mode="bicubic", align_corners=False
    )
    expected = torch.cat((pos[:, :1], resized.permute(0, 2, 3, 1).reshape(1, 64, 192)), dim=1)
    assert model.pos_embed.shape == (1, 65, 192)
    torch.testing.assert_close(model.pos_embed.detach(), expected, rtol=0, atol=0)
    assert torch.equal(model.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight)


def test_compiled_and_ddp_prefixes_are_stripped(tmp_path: Path) -> None:
    source = _model(5)
    path = tmp_path / "compiled.pt"
    torch.save(_prefixed(source.state_dict(), "module._orig_mod."), path)
    model, info = load_backbone(path)
    assert info.format == "dino-backbone"
    assert torch.equal(_outputs(model), _outputs(source))


def test_save_weights_round_trip(tmp_path: Path) -> None:
    source = _model(6)
    path = tmp_path / "out" / "backbone.safetensors"
    save_weights(source, path, extra={"epoch": 7, "preset": "ino-davis"})
    assert sorted(p.name for p in path.parent.iterdir()) == ["backbone.safetensors"]
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["inovos"])
    assert meta["format"] == "inovos-vit"
    assert (meta["arch"], meta["patch_size"], meta["img_size"], meta["depth"]) == (
        "vit_tiny",
        8,
        64,
        2,
    )
    model, info = load_backbone(path)
    assert (info.format, info.which, info.arch) == ("inovos-vit", "weights", "vit_tiny")
    assert info.meta["extra"] == {"epoch": 7, "preset": "ino-davis"}
    for k, v in source.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert torch.equal(_outputs(model), _outputs(source))
    renamed = tmp_path / "weights.bin"  # detected by content, not by name
    renamed.write_bytes(path.read_bytes())
    assert load_backbone(renamed)[1].format == "inovos-vit"
    save_weights(_model(7), path)  # overwrite in place
    assert torch.equal(_outputs(load_backbone(path)[0]), _outputs(_model(7)))


def test_random_backbone_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(99)
    state = torch.get_rng_state()
    a = random_backbone("vit_tiny", 16, img_size=32, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(12345)
    b = random_backbone("vit_tiny", 16, img_size=32, seed=3)
    c = random_backbone("vit_tiny", 16, img_size=32, seed=4)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.blocks[0].attn.qkv.weight, c.blocks[0].attn.qkv.weight)
    assert not a.training


def test_missing_directory_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(InovosError, match="not found"):
        load_backbone(tmp_path / "nope.pth")
    with pytest.raises(InovosError, match="not found"):
        load_backbone(tmp_path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(InovosError, match="cannot read"):
        load_backbone(garbage)
    truncated = tmp_path / "truncated.pth"
    torch.save(_model(1).state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with pytest.raises(InovosError, match="cannot read"):
        load_backbone(truncated)
    bad_st = tmp_path / "bad.safetensors"
    save_weights(_model(1), bad_st)
    bad_st.write_bytes(bad_st.read_bytes()[:500])
    with pytest.raises(InovosError):
        load_backbone(bad_st)


def test_unknown_layouts(tmp_path: Path) -> None:
    other = tmp_path / "other.pth"
    torch.save({"foo": 1, "bar": torch.zeros(2)}, other)
    with pytest.raises(
        InovosError, match=r"no ViT weights found.*top-level keys are \['bar', 'foo'\]"
    ):
        load_backbone(other)
    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(InovosError, match="no ViT weights found"):
        load_backbone(not_dict)
    extra_key = tmp_path / "extra.pth"
    torch.save(_model(1).state_dict() | {"blocks.0.attn.rel_pos": torch.zeros(3)}, extra_key)
    with pytest.raises(InovosError, match="unexpected"):
        load_backbone(extra_key)
    no_teacher = tmp_path / "no_teacher.pth"
    torch.save({"student": _prefixed(_model(1).state_dict(), "module.backbone.")}, no_teacher)
    with pytest.raises(InovosError, match="no 'teacher' weights"):
        load_backbone(no_teacher)


def test_unsafe_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "unsafe.pth"
    _write_ino(path, _model(1), _model(2))
    ckpt = torch.load(path, weights_only=False)
    ckpt["args"] = NotAllowed()
    torch.save(ckpt, path)
    with pytest.raises(InovosError) as caught:
        load_backbone(path)
    message = str(caught.value)
    assert "NotAllowed" in message and "refusing" in message and "\n" not in message
    assert "weights_only" not in message and "False" not in message


def test_mismatches_and_bad_options(tmp_path: Path) -> None:
    path = tmp_path / "ino.pth"
    _write_ino(path, _model(1), _model(2))
    with pytest.raises(InovosError, match=r"'vit_small'.*'vit_tiny'"):
        load_backbone(path, arch="vit_small")
    with pytest.raises(InovosError, match=r"asked for 16.*patch size 8"):
        load_backbone(path, patch_size=16)
    with pytest.raises(InovosError, match="which"):
        load_backbone(path, which="ema")
    with pytest.raises(InovosError, match="multiple"):
        load_backbone(path, img_size=60)
    plain = tmp_path / "plain.pth"
    torch.save(_dino_backbone_state(_model(1)), plain)
    with pytest.raises(InovosError, match="one network"):
        load_backbone(plain, which="teacher")
