"""Pixel normalisation constants: one mean/std pair for training, one std for evaluation."""

from __future__ import annotations

# ImageNet statistics: the training views are normalised with these.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# DINO's and INO's DAVIS evaluation divides the red channel by 0.228, not 0.229; label
# propagation keeps it so that features match the original numbers exactly.
DAVIS_EVAL_STD: tuple[float, float, float] = (0.228, 0.224, 0.225)

__all__ = ["DAVIS_EVAL_STD", "IMAGENET_MEAN", "IMAGENET_STD"]
