"""Collapse watch: one warning when the teacher's output stays near-uniform.

A teacher whose centred, sharpened distributions are uniform (entropy ln K)
gives L_out and L_mim no signal: the classic DINO-style collapse. The watch
counts consecutive steps whose teacher entropies (cls, and patch when the step
masked) are all within ``tolerance`` of ln K and logs ONE warning per run once
the streak reaches ``patience`` steps.
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)

ENTROPY_KEYS = ("teacher_entropy_cls", "teacher_entropy_patch")

KNOBS = (
    "loss.teacher_temp (a lower temperature sharpens the teacher), "
    "loss.center_momentum (how fast the centre follows the teacher's mean), "
    "model.out_dim (K), optim.base_lr, optim.momentum_teacher (the EMA speed)"
)


class CollapseWatch:
    """Counts near-uniform teacher steps; warns once when the streak reaches ``patience``.

    Args:
        out_dim: K (uniform entropy ln K).
        patience: consecutive near-uniform steps before the warning (0: never warn).
        tolerance: relative distance to ln K counted as near-uniform (0.01: within 1%).
        enabled: False on ranks other than 0.
    """

    def __init__(
        self, out_dim: int, patience: int, tolerance: float = 0.01, enabled: bool = True
    ) -> None:
        self.log_k = math.log(out_dim)
        self.patience = patience
        self.tolerance = tolerance
        self.enabled = enabled and patience > 0
        self.streak = 0
        self.warned = False

    def update(self, values: dict[str, float], iteration: int) -> bool:
        """Account for one step's values; True when this call logged the warning.

        A step without any teacher entropy (no centred term ran) leaves the streak as is.
        """
        entropies = [values[k] for k in ENTROPY_KEYS if k in values]
        if not self.enabled or not entropies:
            return False
        uniform = all(h >= (1.0 - self.tolerance) * self.log_k for h in entropies)
        self.streak = self.streak + 1 if uniform else 0
        if self.warned or self.streak < self.patience:
            return False
        self.warned = True
        shown = ", ".join(f"{k} {values[k]:.4g}" for k in ENTROPY_KEYS if k in values)
        logger.warning(
            "teacher collapse to uniform: for %d consecutive steps (up to step %d) the "
            "teacher's entropy stayed within %.0f%% of ln K = %.4g (%s), so L_out and L_mim "
            "teach nothing and only L_aff trains. Knobs that act on it: %s. "
            "(run.collapse_warn_steps sets this check; this warning is given once)",
            self.streak,
            iteration,
            100 * self.tolerance,
            self.log_k,
            shown,
            KNOBS,
        )
        return True


__all__ = ["CollapseWatch"]
