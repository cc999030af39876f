"""Quantities DINO-style training is watched by (no gradient, for logging).

- teacher entropy H(P_t), mean over the distributions a term uses: ln K means
  a uniform teacher (collapse to uniform: the loss carries no signal), 0 a
  one-hot teacher;
- KL(P_t || P_s) = CE(P_t, P_s) - H(P_t), averaged like the loss term, so
  ``kl = term - entropy`` when the entropy is averaged with the term's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor


def entropy(p: Tensor) -> Tensor:
    """Shannon entropy in nats over the last dim (0 log 0 = 0).

    Args:
        p: (..., K) probabilities.

    Returns:
        (...) entropies.
    """
    return torch.special.entr(p).sum(-1)
