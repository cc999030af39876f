"""A weights file's saved architecture must agree with its tensors, or the file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from inovos.errors import InovosError
from inovos.models import arch_spec, build_backbone, load_backbone, save_weights


def _saved(tmp_path: Path, **overrides: int) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    save_weights(build_backbone(arch_spec("vit_tiny", 8, 64, depth=2, **overrides)), path)
    return path


def _edit(path: Path, edit) -> Path:
    """Rewrite the file with its JSON metadata changed by ``edit(meta)``."""
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["inovos"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    edit(meta)
    out = path.with_name("edited.safetensors")
    save_file(tensors, str(out), metadata={"inovos": json.dumps(meta)})
    return out


def test_saved_spec_round_trips_with_overridden_heads(tmp_path: Path) -> None:
    model, info = load_backbone(_saved(tmp_path, num_heads=6))
    assert model.num_heads == 6 and info.spec == model.spec
    assert info.meta["spec"]["num_heads"] == 6 and info.meta["version"] == 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(num_heads=6), r"num_heads=6 in one place and 3 in another"),
        (lambda m: m.update(arch="vit_small"), r"arch=vit_small in one place"),
        (
            lambda m: (m["spec"].update(arch="vit_small"), m.update(arch="vit_small")),
            r"says arch=vit_small \(width 384\) but its tensors have width 192",
        ),
        (
            lambda m: (m["spec"].update(depth=3), m.update(depth=3)),
            r"says depth=3 but its tensors have depth=2",
        ),
        (
            lambda m: (m["spec"].update(num_heads=5), m.update(num_heads=5)),
            r"not divisible by num_heads 5",
        ),
        (lambda m: m["spec"].update(n_registers=4), r"register tokens exist only"),
        (lambda m: m["spec"].update(colour="red"), r"unknown fields \['colour'\]"),
        (lambda m: m.update(spec=[1, 2]), r"'spec' is not an object"),
    ],
)
def test_metadata_that_disagrees_with_the_tensors_is_refused(
    tmp_path: Path, edit, message: str
) -> None:
    edited = _edit(_saved(tmp_path), edit)
    with pytest.raises(InovosError, match=message) as caught:
        load_backbone(edited)
    assert "\n" not in str(caught.value) and str(edited) in str(caught.value)


def test_version_1_files_still_load_with_their_heads(tmp_path: Path) -> None:
    def to_v1(meta: dict) -> None:
        del meta["spec"]
        meta.update(version=1, num_heads=6)

    model, _ = load_backbone(_edit(_saved(tmp_path, num_heads=6), to_v1))
    assert model.num_heads == 6
    bad = _edit(_saved(tmp_path), lambda m: (m.pop("spec"), m.update(arch="vit_base")))
    with pytest.raises(InovosError, match=r"arch=vit_base \(width 768\)"):
        load_backbone(bad)


def test_training_config_that_disagrees_with_the_weights_is_refused(tmp_path: Path) -> None:
    model = build_backbone(arch_spec("vit_tiny", 8, 64, depth=2))
    student = {f"module.backbone.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "checkpoint.pth"
    config = {"model": {"arch": "vit_tiny", "depth": 3}}
    torch.save({"inovos": {"format": "inovos-train"}, "student": student, "config": config}, path)
    with pytest.raises(InovosError, match="saved training config says depth=3 but"):
        load_backbone(path)
