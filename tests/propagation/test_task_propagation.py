"""Propagation with a given first-frame label map and CRW's repeated-first-frame context
(JHMDB / VIP presets) against a plain loop over CRW's padded video."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_affinity import assert_same, reference_propagate

from inovos.errors import InovosError
from inovos.propagation.presets import get_preset, input_size
from inovos.propagation.propagator import Propagator

PATCH = 8


def reference_padded(
    feats: torch.Tensor, first: torch.Tensor, n: int, radius: int, topk: int, temp: float
) -> list[torch.Tensor]:
    """CRW's loop, literally: the video is padded in front with n copies of frame 0; the
    query at padded index p reads padded frame 0 plus padded frames p-n .. p-1."""
    frames = [feats[0]] * n + list(feats)
    labels: list[torch.Tensor] = [first] * (n + 1)
    for p in range(n + 1, len(frames)):
        ctx = [0, *range(p - n, p)]
        keys = torch.stack([frames[j] for j in ctx])
        labels.append(
            reference_propagate(
                frames[p], keys, torch.stack([labels[j] for j in ctx]), radius, topk, temp
            )
        )
    return labels[n:]


@pytest.mark.parametrize(("name", "n_context", "radius"), [("crw-jhmdb", 3, 2), ("crw-vip", 6, 1)])
def test_repeated_first_frame_matches_the_padded_loop(name, n_context, radius):
    params = dataclasses.replace(
        get_preset(name), n_context=n_context, radius=radius, square_size=48, topk=4
    )
    size = (40, 64)
    assert input_size(*size, params, PATCH) == (48, 48)
    gen = torch.Generator().manual_seed(n_context)
    feats = F.normalize(torch.randn(9, 16, 6, 6, generator=gen, dtype=torch.float64), dim=1)
    first = torch.rand(4, 6, 6, generator=gen, dtype=torch.float64)
    prop = Propagator(params, (1, 2, 3), PATCH, size, dtype=torch.float64)
    outs = [prop.step(feats[0], labels=first)]
    outs += [prop.step(feats[t]) for t in range(1, 9)]
    refs = reference_padded(feats, first, n_context, radius, 4, params.temperature)
    for t, (out, ref) in enumerate(zip(outs, refs, strict=True)):
        assert out.shape == (4, 6, 6), t
        assert_same(out, ref, atol=1e-10)


def test_context_with_repeated_first_frame():
    params = dataclasses.replace(get_preset("crw-jhmdb"), n_context=3)
    prop = Propagator(params, (1,), PATCH, (64, 64))
    assert prop.context_of(0, 1) == [0, 0, 0, 0]
    assert prop.context_of(0, 2) == [0, 0, 0, 1]
    assert prop.context_of(0, 5) == [0, 2, 3, 4]


def test_given_labels_are_checked():
    params = dataclasses.replace(get_preset("crw-jhmdb"), square_size=48)
    prop = Propagator(params, (1, 2), PATCH, (40, 64))
    feats = F.normalize(torch.randn(8, 6, 6), dim=0)
    with pytest.raises(InovosError, match="label map"):
        prop.step(feats, labels=torch.zeros(2, 6, 6))
    prop.step(feats, labels=torch.zeros(3, 6, 6))
    with pytest.raises(InovosError, match="first frame"):
        prop.step(feats, labels=torch.zeros(3, 6, 6))


def test_square_size_ignores_the_aspect_and_follows_the_patch():
    params = get_preset("crw-jhmdb")
    assert input_size(240, 320, params, 8) == (320, 320)
    assert input_size(240, 320, params, 14) == (308, 308)
    assert input_size(1080, 1920, get_preset("crw-vip"), 16) == (560, 560)
    np.testing.assert_equal(input_size(500, 300, params, 16), (320, 320))
