"""Training checkpoints: atomic writes, safe loading, RNG capture and restore.

A checkpoint is a plain dict of tensors and plain data (loadable with
``torch.load(weights_only=True)``), written by rank 0 to a temporary file in
the same folder, fsync'ed, then moved over the old file with ``os.replace``
(:mod:`inovos.atomic`): a crash during the write leaves the previous checkpoint intact.

Layout (``version`` 1; the weight keys follow the original INO release):

- ``inovos``: {"format": "inovos-train", "version": 1, "torch": version string}
- ``student``: {"module.backbone.<vit key>", "module.headlist.headlist.0.<head key>"}
- ``teacher``: the same keys without ``module.``
- ``optimizer``: AdamW state dict; ``fp16_scaler``: GradScaler state dict or None
- ``loss``: INOLoss state dict (``cls_center.center``, ``patch_center.center``),
  also under the original names ``dino_loss_cls_list`` / ``dino_loss_hw_list``
  as {"0.center": (1, K)}
- ``epoch``: epoch of the next step; ``iter_in_epoch``: steps already done in it;
  ``iteration``: steps done in total
- ``rng``: one entry per rank (python, numpy, torch CPU, CUDA states as tensors)
- ``sampler``: {"world_size"} (a resume with another world size restarts its epoch)
- ``config``: the resolved TrainConfig as a plain nested dict
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inovos.atomic import atomic_open
from inovos.config import load_yaml
from inovos.errors import InovosError
from inovos.models.readers import describe_mismatch, read_torch_file
from inovos.train.model import from_compat
from inovos.train.state import TrainState

logger = logging.getLogger(__name__)

FORMAT = "inovos-train"
VERSION = 1
LATEST_NAME = "checkpoint.pth"


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` through the atomic writer (:mod:`inovos.atomic`).

    Raises:
        InovosError: the file cannot be written (the old file, if any, is untouched).
    """
    with atomic_open(path) as f:
        torch.save(obj, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`atomic_save` with ``weights_only=True``.

    Raises:
        InovosError: missing, unreadable or not an inovos training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise InovosError(f"checkpoint not found: {path}")
    state = read_torch_file(path, map_location)
    meta = state.get("inovos") if isinstance(state, dict) else None
    if not isinstance(state, dict) or not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InovosError(f"{path} is not an inovos training checkpoint")
    if int(meta.get("version", 0)) > VERSION:
        raise InovosError(
            f"{path}: checkpoint version {meta.get('version')} is newer than {VERSION}"
        )
    return state


def saved_run_config(output_dir: str | Path) -> dict[str, Any] | None:
    """The config a run folder holds, as a nested dict; None without a checkpoint.

    The copy inside ``checkpoint.pth`` is the base (it is written with the weights);
    the sections of a readable ``config.yaml`` go on top (hand edits win).
    """
    out = Path(output_dir)
    if not (out / LATEST_NAME).is_file():
        return None
    saved: dict[str, Any] = {
        k: dict(v) for k, v in load_checkpoint(out / LATEST_NAME).get("config", {}).items()
    }
    try:
        edited = load_yaml(out / "config.yaml")
    except InovosError as err:
        logger.warning("%s; using the config stored in %s", err, LATEST_NAME)
        return saved
    for section, values in edited.items():
        if isinstance(values, dict):
            saved.setdefault(section, {}).update(values)
        else:
            saved[section] = values  # rejected with its name by resolve_config
    return saved


def checkpoint_header() -> dict[str, Any]:
    """The ``inovos`` entry of a checkpoint (format, version, torch version)."""
    return {"format": FORMAT, "version": VERSION, "torch": str(torch.__version__)}


def capture_rng_state() -> dict[str, Any]:
    """This process's python, numpy, torch CPU and current-CUDA-device states, as tensors."""
    version, py_state, gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)
    state: dict[str, Any] = {
        "python_version": int(version),
        "python": torch.tensor(py_state, dtype=torch.int64),
        "python_gauss": gauss,
        "numpy": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # Only this rank's device: touching every GPU would create a context on each.
        state["cuda"] = [torch.cuda.get_rng_state().cpu()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = tuple(int(v) for v in state["python"].tolist())
    random.setstate((int(state["python_version"]), py, state["python_gauss"]))
    keys = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(
        (
            "MT19937",
            keys,
            int(state["numpy_pos"]),
            int(state["numpy_has_gauss"]),
            float(state["numpy_gauss"]),
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda[0].cpu())  # the current device


def gather_rng_states() -> list[dict[str, Any]]:
    """Every rank's RNG state (rank order); a one-element list for one process."""
    import torch.distributed as dist

    mine = capture_rng_state()
    if not (dist.is_available() and dist.is_initialized()):
        return [mine]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    return gathered


def restore_rank_rng(states: list[dict[str, Any]], rank: int, world_size: int) -> bool:
    """Restore this rank's RNG state when the world size matches; False otherwise."""
    if len(states) != world_size:
        logger.warning(
            "checkpoint has RNG states for %d ranks, this run has %d: not restoring them "
            "(the run continues but is not bit-for-bit reproducible)",
            len(states),
            world_size,
        )
        return False
    restore_rng_state(states[rank])
    return True


@dataclass(frozen=True)
class Position:
    """Where training stands: the next step is step ``iter_in_epoch`` of ``epoch``.

    Attributes:
        epoch: epoch of the next step (0-based; ``epochs`` when the run is complete).
        iter_in_epoch: steps already done in that epoch.
        iteration: steps done in total (the schedules' index of the next step).
    """

    epoch: int = 0
    iter_in_epoch: int = 0
    iteration: int = 0


def training_state(
    state: TrainState,
    position: Position,
    rng: list[dict[str, Any]],
    world_size: int,
    config: dict[str, Any],
) -> dict[str, Any]:
    """The checkpoint dict (layout in the module docstring); tensors are not copied."""
    loss_state = state.loss_fn.state_dict()
    saved: dict[str, Any] = {"inovos": checkpoint_header()}
    saved.update(state.model.compat_state_dicts())
    saved.update(
        optimizer=state.optimizer.state_dict(),
        fp16_scaler=None if state.scaler is None else state.scaler.state_dict(),
        loss=loss_state,
        epoch=position.epoch,
        iter_in_epoch=position.iter_in_epoch,
        iteration=position.iteration,
        rng=rng,
        sampler={"world_size": world_size},
        config=config,
    )
    for compat, key in (
        ("dino_loss_cls_list", "cls_center"),
        ("dino_loss_hw_list", "patch_center"),
    ):
        if f"{key}.center" in loss_state:
            saved[compat] = {"0.center": loss_state[f"{key}.center"]}
    return saved


def restore_training_state(saved: dict[str, Any], state: TrainState) -> Position:
    """Load weights, optimiser, scaler and centres from ``saved`` into ``state``.

    Returns:
        The position stored with them.

    Raises:
        InovosError: the checkpoint does not fit the configured model.
    """
    for name in ("student", "teacher"):
        network = getattr(state.model, name)
        problem = describe_mismatch(network.state_dict(), from_compat(saved.get(name) or {}))
        if problem:
            raise InovosError(f"checkpoint {name} weights do not fit this model/config ({problem})")
    try:
        state.model.load_compat_state_dicts(saved["student"], saved["teacher"])
        state.loss_fn.load_state_dict(saved["loss"])
        state.optimizer.load_state_dict(saved["optimizer"])
    except (KeyError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InovosError(f"checkpoint does not fit this model/config: {first}") from exc
    if state.scaler is not None and saved.get("fp16_scaler"):
        state.scaler.load_state_dict(saved["fp16_scaler"])
    return Position(int(saved["epoch"]), int(saved["iter_in_epoch"]), int(saved["iteration"]))


__all__ = [
    "FORMAT",
    "LATEST_NAME",
    "VERSION",
    "Position",
    "atomic_save",
    "capture_rng_state",
    "checkpoint_header",
    "gather_rng_states",
    "load_checkpoint",
    "restore_rank_rng",
    "restore_rng_state",
    "restore_training_state",
    "saved_run_config",
    "training_state",
]
