"""The training loop end to end on two tiny synthetic videos (CPU, a few seconds each)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from inovos.cli import main as cli_main
from inovos.errors import InovosError
from inovos.losses import INOLoss
from inovos.models.checkpoints import load_backbone
from inovos.train import step as step_module
from inovos.train.checkpoint import load_checkpoint
from inovos.train.main import train
from inovos.train.state import TrainState
from inovos.train.step import TrainStep


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _log(out: Path) -> list[dict]:
    """The epoch records of a run's log.jsonl."""
    return [r for r in _records(out) if r["kind"] == "epoch"]


def _assert_same_state(a: dict, b: dict) -> None:
    """Every student/teacher tensor, the centres and the AdamW moments are bit-identical."""
    for net in ("student", "teacher"):
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net} {key} differs"
    for key in a["loss"]:
        assert torch.equal(a["loss"][key], b["loss"][key]), key
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for idx in sa:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[idx][name], sb[idx][name]), (idx, name)


def test_kill_and_resume_is_bit_for_bit(tmp_path: Path, tiny_config, monkeypatch) -> None:
    # 5 steps per epoch; 7 steps cross an epoch boundary (last layer unfrozen at epoch 1).
    straight = tmp_path / "straight"
    summary = train(tiny_config(straight, "run.max_iters=7"))
    assert summary.stop_reason == "max_iters" and summary.position.iteration == 7
    assert 0 < summary.seconds_per_step < 60  # steady-state time per step (the demo's probe)

    crashed = tmp_path / "crashed"
    config = tiny_config(crashed, "run.max_iters=7", "run.save_every_iters=2", "data.num_workers=1")
    original = TrainStep.__call__

    def crash_at_step_3(self, batch, mask, iteration, epoch):
        if iteration == 3:
            raise RuntimeError("simulated crash (power cut)")
        return original(self, batch, mask, iteration, epoch)

    monkeypatch.setattr(TrainStep, "__call__", crash_at_step_3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config)
    monkeypatch.undo()
    assert load_checkpoint(crashed / "checkpoint.pth")["iteration"] == 2  # mid-epoch save

    resumed = train(config, resume=True)
    assert resumed.position.iteration == 7
    _assert_same_state(
        load_checkpoint(straight / "checkpoint.pth"), load_checkpoint(crashed / "checkpoint.pth")
    )


def test_corrupt_and_empty_videos_are_skipped_and_logged(
    tmp_path: Path, tiny_config, synth_list: Path
) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    broken = tmp_path / "broken_frames"  # indexes fine (30 files), fails when decoded
    broken.mkdir()
    for i in range(30):
        (broken / f"{i:05d}.jpg").write_bytes(b"not a jpeg")
    listing = tmp_path / "videos.txt"
    good = [str(synth_list.parent / line) for line in synth_list.read_text().split()]
    bad = [str(tmp_path / name) for name in ("empty.mp4", "corrupt.mp4", "broken_frames")]
    listing.write_text("\n".join([good[0], *bad, good[1]]))
    out = tmp_path / "run"
    summary = train(tiny_config(out, "optim.epochs=1", source=listing))
    assert summary.stop_reason == "completed" and summary.position.epoch == 1
    (record,) = _log(out)
    reasons = {Path(s["path"]).name: s["reason"] for s in record["skipped_videos"]}
    assert set(reasons) == {"empty.mp4", "corrupt.mp4", "broken_frames"}
    assert reasons["broken_frames"] == "decode failed" and record["decode_failures"] >= 1
    assert record["num_skipped_videos"] == 3
    assert record["steps"] == 7 and not record["partial"]  # 15 clips (5 per video): 7 steps


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(
    tmp_path: Path, tiny_config, monkeypatch
) -> None:
    out = tmp_path / "run"
    original = INOLoss.compute
    calls = []

    def nan_at_call_4(self, **kwargs):
        result = original(self, **kwargs)
        calls.append(1)
        if len(calls) == 4:
            result.total = result.total * float("nan")
            result.parts["loss"] = result.total.detach()
        return result

    monkeypatch.setattr(INOLoss, "compute", nan_at_call_4)
    with pytest.raises(InovosError, match="non-finite loss at epoch 0, iteration 3"):
        train(tiny_config(out, "run.save_every_iters=1"))
    state = torch.load(out / "checkpoint.pth", weights_only=True)
    assert state["iteration"] == 3  # the last good step's checkpoint, intact
    assert all(torch.isfinite(v).all() for v in state["student"].values())


def test_a_uniform_teacher_gives_one_collapse_warning(tmp_path: Path, tiny_config, caplog) -> None:
    # A teacher temperature of 1e4 makes every teacher distribution uniform to 1e-6.
    config = tiny_config(tmp_path / "run", "loss.teacher_temp=1e4", "run.collapse_warn_steps=2")
    with caplog.at_level(logging.WARNING, logger="inovos"):
        train(config)  # 10 steps, all near-uniform
    warnings = [r.getMessage() for r in caplog.records if "collapse" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "for 2 consecutive steps" in warnings[0] and "loss.teacher_temp" in warnings[0]
    for knob in ("loss.center_momentum", "model.out_dim", "optim.base_lr", "momentum_teacher"):
        assert knob in warnings[0]


def test_time_budget_stops_cleanly_with_a_checkpoint(tmp_path: Path, tiny_config) -> None:
    out = tmp_path / "run"
    summary = train(tiny_config(out, "run.max_minutes=1e-6"))
    assert summary.stop_reason == "max_minutes" and summary.position.iteration == 1
    assert math.isnan(summary.seconds_per_step)  # one step: no steady-state estimate
    assert load_checkpoint(out / "checkpoint.pth")["iter_in_epoch"] == 1
    assert _log(out)[0]["partial"] is True


def test_cli_train_then_export(
    tmp_path: Path, synth_list: Path, tiny_overrides: list[str], capsys
) -> None:
    out = tmp_path / "run"
    args = ["train", "--preset", "tiny-cpu", "--data", str(synth_list), "--output", str(out)]
    args += [*tiny_overrides, f"data.index_cache={tmp_path / 'cache'}"]
    assert cli_main([*args, "run.max_iters=6"]) == 0
    shown = capsys.readouterr()
    assert "training max_iters at epoch 1, step 1 (6 steps)" in shown.out
    assert "epoch 0/" in shown.err and "epoch 1/" in shown.err  # the progress bars
    assert (out / "config.yaml").is_file() and (out / "views" / "epoch_0000.png").is_file()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (out / "tb").glob("events.out.tfevents.*")
    scalars = EventAccumulator(str(events))
    scalars.Reload()
    terms = ("loss", "out", "mim", "aff", "lr", "wd", "momentum", "teacher_temp", "grad_norm")
    assert {f"train/{k}" for k in terms} <= set(scalars.Tags()["scalars"])
    assert len(scalars.Scalars("train/loss")) == 6  # run.log_every=1
    diagnostics = {"teacher_entropy_cls", "kl_out", "center_norm_cls", "center_norm_patch"}
    diagnostics |= {"grad_norm_out", "grad_norm_mim", "grad_norm_aff"}
    assert {f"train/{k}" for k in diagnostics} <= set(scalars.Tags()["scalars"])
    steps = [r for r in _records(out) if r["kind"] == "step"]
    assert [r["iteration"] for r in steps] == [1, 2, 3, 4, 5, 6]  # one line per step
    assert all(diagnostics <= set(r["train"]) for r in steps)
    assert any("teacher_entropy_patch" in r["train"] for r in steps)  # steps with a mask
    records = _log(out)
    assert [r["epoch"] for r in records] == [0, 1] and records[1]["partial"] is True
    assert {"loss", "out", "mim", "aff", "lr", "wd", "momentum", "grad_norm"} <= set(
        records[0]["train"]
    )

    # Resume from the run's own config.yaml and go on to the end of epoch 1.
    resume = ["train", "--output", str(out), "--resume", "--no-progress", "run.max_iters=10"]
    assert cli_main(resume) == 0
    shown = capsys.readouterr()
    assert "training max_iters at epoch 2, step 0 (10 steps)" in shown.out
    assert "epoch 1/" not in shown.err  # --no-progress: no bar

    weights = tmp_path / "student.safetensors"
    assert cli_main(["export", str(out / "checkpoint.pth"), str(weights)]) == 0
    vit, info = load_backbone(weights)
    assert info.embed_dim == 32 and info.patch_size == 8
    state = load_checkpoint(out / "checkpoint.pth")
    expected = {k.removeprefix("module.backbone."): v for k, v in state["student"].items()}
    for key, value in vit.state_dict().items():
        assert torch.equal(value, expected[key]), key

    assert cli_main(["train", "--output", str(tmp_path / "x"), "optim.nope=1"]) == 2
    assert cli_main(["export", str(tmp_path / "missing.pth"), str(weights)]) == 2


def test_precision_resolution() -> None:
    cpu = torch.device("cpu")
    assert step_module.resolve_precision("auto", cpu) == "fp32"
    assert step_module.resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(InovosError, match="fp16 needs a CUDA"):
        step_module.resolve_precision("fp16", cpu)
    with pytest.raises(InovosError):
        step_module.resolve_precision("fp8", cpu)


def _tiny_step(config) -> TrainStep:
    from inovos.train.setup import build_loss, build_model, build_optimizer, build_run_schedules

    device = torch.device("cpu")
    torch.manual_seed(0)
    model = build_model(config.model, device)
    state = TrainState(
        model,
        build_optimizer(model.student, config.optim, device),
        build_loss(config.loss, config.model.out_dim, device),
    )
    return TrainStep(
        state,
        model.student,
        build_run_schedules(config, 1, 10),
        "fp32",
        device,
        config.optim.clip_grad,
        config.optim.freeze_last_layer,
    )


def test_step_feeds_the_loss_frame_major(tmp_path: Path, tiny_config) -> None:
    """The batched forward + reshapes equal per-image network calls assembled by hand."""
    from inovos.clips.patch_masks import make_patch_mask
    from inovos.train.setup import build_loss
    from inovos.train.step import ViewBatch

    config = tiny_config(tmp_path, "model.drop_path_rate=0")
    step = _tiny_step(config)
    t, b, n_loc, n = 4, 2, 2, 16
    g, loc = torch.randn(t, b, 3, 32, 32), torch.randn(t, n_loc, b, 3, 16, 16)
    mask = make_patch_mask(5, t, b, n, torch.Generator().manual_seed(1), per_sample=True)
    batch = ViewBatch.from_views(g, loc)
    teacher, student = step.forward(batch, mask.flatten(0, 1))
    result = step.compute_loss(batch, teacher, student, mask, 0.04)
    got, parts = result.total, result.parts

    net_t, net_s = step.model.teacher, step.model.student
    with torch.no_grad():
        tout = [[net_t(g[i, j][None]) for j in range(b)] for i in range(t)]
        sout = [[net_s(g[i, j][None], mask[i, j][None]) for j in range(b)] for i in range(t)]
        slc = torch.stack(
            [
                torch.stack(
                    [
                        torch.stack(
                            [
                                net_s.head(net_s.backbone(loc[i, m, j][None])[:, 0])[0]
                                for j in range(b)
                            ]
                        )
                        for m in range(n_loc)
                    ]
                )
                for i in range(t)
            ]
        )
    ref, ref_parts = build_loss(config.loss, config.model.out_dim, torch.device("cpu"))(
        teacher_cls=torch.stack([torch.stack([o.cls[0] for o in row]) for row in tout]),
        student_cls=torch.stack([torch.stack([o.cls[0] for o in row]) for row in sout]),
        student_local_cls=slc,
        teacher_patch=torch.stack([torch.stack([o.patch[0] for o in row]) for row in tout]),
        student_patch=torch.stack([torch.stack([o.patch[0] for o in row]) for row in sout]),
        mask=mask,
        teacher_temp=0.04,
    )
    for key in ("out", "mim", "aff"):
        torch.testing.assert_close(parts[key], ref_parts[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.detach(), ref, rtol=1e-5, atol=1e-6)


def test_a_non_finite_step_changes_nothing(tmp_path: Path, tiny_config, monkeypatch) -> None:
    """Centres, weights and optimiser state stay as they were when the loss is not finite."""
    from inovos.clips.patch_masks import make_patch_mask
    from inovos.train.step import ViewBatch

    step = _tiny_step(tiny_config(tmp_path))
    batch = ViewBatch.from_views(torch.randn(4, 2, 3, 32, 32), torch.randn(4, 2, 2, 3, 16, 16))
    mask = make_patch_mask(5, 4, 2, 16, torch.Generator().manual_seed(1), per_sample=False)
    step(batch, mask, iteration=0, epoch=0)  # one good step: non-zero centres, Adam state
    before = {k: v.clone() for k, v in step.loss_fn.state_dict().items()}
    weights = {k: v.clone() for k, v in step.model.state_dict().items()}
    original = INOLoss.compute

    def nan_loss(self, **kwargs):
        result = original(self, **kwargs)
        result.total = result.total * float("nan")
        result.parts["loss"] = result.total.detach()
        return result

    monkeypatch.setattr(INOLoss, "compute", nan_loss)
    with pytest.raises(InovosError, match="non-finite loss"):
        step(batch, mask, iteration=1, epoch=0)
    assert all(torch.count_nonzero(v) for v in before.values())
    for key, value in step.loss_fn.state_dict().items():
        assert torch.equal(value, before[key]), key
    for key, value in step.model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_step_without_an_active_term_is_a_zero_gradient_step(tmp_path: Path, tiny_config) -> None:
    from inovos.train.step import ViewBatch

    step = _tiny_step(tiny_config(tmp_path, "loss.w_out=0"))  # no mask: L_mim = L_aff = 0
    batch = ViewBatch.from_views(torch.randn(4, 2, 3, 32, 32), torch.randn(4, 2, 2, 3, 16, 16))
    values = step(batch, None, iteration=3, epoch=0).values
    assert values["loss"] == 0.0 and values["grad_norm"] == 0.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.clip_len=3", "data.clip_len must be even"),
        ("data.global_size=36", "not a multiple of model.patch_size"),
        ("optim.warmup_epochs=5", "optim.warmup_epochs"),
        ("loss.mask_ratio_max=1.5", "mask_ratio"),
        ("optim.precision=fp16", "fp16 needs a CUDA device"),
    ],
)
def test_bad_settings_fail_before_training(tmp_path: Path, tiny_config, override, message) -> None:
    with pytest.raises(InovosError, match=message):
        train(tiny_config(tmp_path / "run", override))


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path: Path, tiny_config) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pth").write_bytes(b"previous run")
    with pytest.raises(InovosError, match="--resume"):
        train(tiny_config(out))
    assert (out / "checkpoint.pth").read_bytes() == b"previous run"
