"""The collapse watch: a streak of near-uniform teacher steps gives exactly one warning."""

from __future__ import annotations

import logging
import math

import pytest

from inovos.train.diagnostics import CollapseWatch

LN_K = math.log(64)


def _steps(watch: CollapseWatch, entropies: list[dict[str, float]]) -> list[bool]:
    return [watch.update(v, i + 1) for i, v in enumerate(entropies)]


def test_warns_once_after_the_streak(caplog):
    uniform = {"teacher_entropy_cls": 0.995 * LN_K, "teacher_entropy_patch": LN_K}
    sharp = {"teacher_entropy_cls": 0.5 * LN_K}
    watch = CollapseWatch(64, patience=3)
    with caplog.at_level(logging.WARNING):
        fired = _steps(watch, [uniform, uniform, sharp, uniform, uniform, uniform, uniform])
    # The sharp step resets the streak: steps 4, 5, 6 make the 3 in a row.
    assert fired == [False, False, False, False, False, True, False]
    (record,) = [r for r in caplog.records if "collapse" in r.getMessage()]
    assert "within 1% of ln K = 4.159" in record.getMessage()


def test_near_uniform_means_every_available_entropy_within_tolerance():
    watch = CollapseWatch(64, patience=1)
    # cls near-uniform but the patch teacher is sharp: not a collapse.
    assert not watch.update({"teacher_entropy_cls": LN_K, "teacher_entropy_patch": 1.0}, 1)
    assert watch.streak == 0
    assert not watch.update({"loss": 3.0}, 2)  # no entropy this step: streak unchanged
    assert watch.update({"teacher_entropy_cls": 0.991 * LN_K}, 3)


def test_disabled_watch_never_warns(caplog):
    uniform = {"teacher_entropy_cls": LN_K}
    for watch in (CollapseWatch(64, patience=0), CollapseWatch(64, patience=1, enabled=False)):
        assert not any(_steps(watch, [uniform] * 5))
    assert not caplog.records


def test_term_grad_norms_are_the_norms_of_each_terms_output_gradient(tmp_path, tiny_config):
    import torch

    from inovos.clips.patch_masks import make_patch_mask
    from inovos.train.setup import build_loss, build_model, build_optimizer
    from inovos.train.state import TrainState
    from inovos.train.step import TrainStep, ViewBatch

    config = tiny_config(tmp_path, "model.drop_path_rate=0", "loss.w_mim=0.5")
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    model = build_model(config.model, cpu)
    loss_fn = build_loss(config.loss, config.model.out_dim, cpu)
    state = TrainState(model, build_optimizer(model.student, config.optim, cpu), loss_fn)
    step = TrainStep(state, model.student, None, "fp32", cpu, 3.0, 0)  # type: ignore[arg-type]
    batch = ViewBatch.from_views(torch.randn(4, 2, 3, 32, 32), torch.randn(4, 2, 2, 3, 16, 16))
    mask = make_patch_mask(5, 4, 2, 16, torch.Generator().manual_seed(1), per_sample=False)
    teacher, student = step.forward(batch, mask.flatten(0, 1))
    result = step.compute_loss(batch, teacher, student, mask, 0.04)
    norms = step.term_grad_norms(result, student)
    outputs = [student.cls, student.local_cls, student.patch]
    for name, weight in (("out", 1.0), ("mim", 0.5), ("aff", 1.0)):
        grads = torch.autograd.grad(
            result.terms[name], outputs, retain_graph=True, allow_unused=True
        )
        want = weight * torch.sqrt(sum((g**2).sum() for g in grads if g is not None))
        assert norms[f"grad_norm_{name}"] == pytest.approx(float(want), rel=1e-5), name
    # L_out does not reach the patch outputs, L_mim and L_aff not the cls outputs.
    assert all(v > 0 for v in norms.values())
