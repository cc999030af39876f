"""DINO head: shapes, original key names, frozen gain, equivalence with torch's weight norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inovos.layers import DINOHead


def _head(**kwargs) -> DINOHead:
    torch.manual_seed(0)
    return DINOHead(32, out_dim=50, hidden_dim=64, bottleneck_dim=16, **kwargs)


def test_keys_and_shapes_match_original() -> None:
    head = DINOHead(384)
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes == {
        "mlp.0.weight": (2048, 384),
        "mlp.0.bias": (2048,),
        "mlp.2.weight": (2048, 2048),
        "mlp.2.bias": (2048,),
        "mlp.4.weight": (256, 2048),
        "mlp.4.bias": (256,),
        "last_layer.weight_g": (4096, 1),
        "last_layer.weight_v": (4096, 256),
    }
    assert isinstance(head.mlp[1], nn.GELU) and isinstance(head.mlp[3], nn.GELU)


def test_output_shapes_2d_and_3d_agree() -> None:
    head = _head().eval()
    cls = torch.randn(3, 32)
    patches = torch.randn(3, 5, 32)
    with torch.no_grad():
        assert head(cls).shape == (3, 50)
        out = head(patches)
        assert out.shape == (3, 5, 50)
        torch.testing.assert_close(out[:, 2], head(patches[:, 2]))


def test_gain_frozen_at_one() -> None:
    head = _head()
    assert torch.all(head.last_layer.weight_g == 1)
    assert not head.last_layer.weight_g.requires_grad
    head(torch.randn(4, 32)).sum().backward()
    assert head.last_layer.weight_g.grad is None
    assert head.last_layer.weight_v.grad is not None
    assert _head(norm_last_layer=False).last_layer.weight_g.requires_grad


def test_matches_torch_weight_norm_reference() -> None:
    head = _head(norm_last_layer=False)
    with torch.no_grad():
        head.last_layer.weight_g.uniform_(0.5, 2.0)
    reference = nn.Linear(16, 50, bias=False)
    reference = torch.nn.utils.parametrizations.weight_norm(reference, dim=0)
    with torch.no_grad():
        reference.parametrizations.weight.original0.copy_(head.last_layer.weight_g)
        reference.parametrizations.weight.original1.copy_(head.last_layer.weight_v)
    x = torch.randn(6, 32)
    with torch.no_grad():
        hidden = F.gelu(x @ head.mlp[0].weight.T + head.mlp[0].bias)
        hidden = F.gelu(hidden @ head.mlp[2].weight.T + head.mlp[2].bias)
        bottleneck = hidden @ head.mlp[4].weight.T + head.mlp[4].bias
        bottleneck = bottleneck / bottleneck.norm(dim=-1, keepdim=True)
        torch.testing.assert_close(head(x), reference(bottleneck), rtol=1e-5, atol=1e-6)
        # every row of the effective weight has norm g
        norms = head.last_layer.weight.norm(dim=1, keepdim=True)
        torch.testing.assert_close(norms, head.last_layer.weight_g.detach())


def test_init_like_dino() -> None:
    head = DINOHead(384)
    for i in (0, 2, 4):
        assert torch.all(head.mlp[i].bias == 0)
        assert head.mlp[i].weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_loads_original_state_dict_strictly() -> None:
    source = _head()
    state = {k: v.clone() + 0.1 for k, v in source.state_dict().items()}
    target = _head()
    target.load_state_dict(state, strict=True)
    for k, v in target.state_dict().items():
        torch.testing.assert_close(v, state[k])
