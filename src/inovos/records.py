"""Run records: ``run.json`` in every results folder says what made its masks.

A record holds the settings that decide the pixels (the model: its sha256 for a file,
``random:ARCH`` and the seed, or ``pixels``; every protocol knob; the backbone dtype),
the environment (inovos, torch, Python versions, host), the data, and per sequence
its frames, input size, device, stage seconds and finish time. Every process of a run
(torchrun ranks, ``--shard`` jobs) updates the one file under an exclusive lock on the
results folder, through the atomic writer.

Resuming compares settings field by field: a folder made with other settings, or
holding masks without a record, is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import platform
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from inovos.errors import InovosError

RECORD_NAME = "run.json"
FORMAT = 1
# Recorded but not compared: the preset's name (its knobs are compared one by one) and,
# where both runs name a file, its path (its sha256 is compared).
_NOT_COMPARED = ("protocol.preset",)


def now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def environment() -> dict[str, str]:
    """Versions and host of this process."""
    import torch

    from inovos import __version__

    return {
        "inovos": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
    }


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings -> {"model.sha256": ..., "protocol.topk": ...}."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12] + "..."
    return "none" if value is None else json.dumps(value) if isinstance(value, list) else str(value)


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The compared fields whose values differ: "protocol.topk (5 there, 10 now)"."""
    a, b = flatten(recorded), flatten(current)
    keys = sorted(set(a) | set(b))
    skip = set(_NOT_COMPARED)
    if a.get("model.sha256") and b.get("model.sha256"):
        skip.add("model.source")
    diffs = []
    for key in keys:
        if key in skip or _normal(a.get(key)) == _normal(b.get(key)):
            continue
        diffs.append(f"{key} ({_show(a.get(key))} there, {_show(b.get(key))} now)")
    return diffs


def _normal(value: Any) -> Any:
    """Tuples and lists compare equal (JSON has only lists)."""
    return json.loads(json.dumps(value))


def read_record(folder: str | Path) -> dict[str, Any] | None:
    """The folder's ``run.json``, or None where there is none.

    Raises:
        InovosError: a ``run.json`` that is not a JSON object.
    """
    path = Path(folder) / RECORD_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise InovosError(f"{path}: cannot read the run record ({err.strerror})") from None
    try:
        record = json.loads(text)
    except ValueError as err:
        raise InovosError(f"{path}: run record is not JSON ({err})") from None
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise InovosError(f"{path}: not a run record (no settings object)")
    return record


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` shared by every process of a run."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def update_record(
    folder: str | Path, change: Callable[[dict[str, Any] | None], dict[str, Any]]
) -> dict[str, Any]:
    """Read, change and atomically rewrite ``folder/run.json`` under the run's lock."""
    from inovos.atomic import atomic_write_text

    folder = Path(folder)
    with _locked(folder):
        record = change(read_record(folder))
        atomic_write_text(
            folder / RECORD_NAME, json.dumps(record, indent=2, sort_keys=False) + "\n"
        )
    return record


def new_record(settings: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """A record with no sequence done yet."""
    stamp = now()
    return {
        "format": FORMAT,
        "settings": dict(settings),
        "data": dict(data),
        "environment": environment(),
        "started": stamp,
        "finished": stamp,
        "seconds": {},
        "sequences": {},
    }


def open_record(
    folder: Path,
    settings: Mapping[str, Any],
    data: Mapping[str, Any],
    redo: list[str],
    overwrite: bool,
    unrecorded: list[str],
) -> dict[str, Any]:
    """Check the folder's record against ``settings`` and prepare it for this process.

    Args:
        folder: the results folder (exists).
        settings: this run's settings.
        data: where the sequences come from (recorded, not compared).
        redo: sequences this process will (re)do with ``overwrite``: their entries go.
        overwrite: redo instead of refusing a mismatch.
        unrecorded: sequences whose masks are in the folder (checked without a record).

    Returns:
        The record after the change.

    Raises:
        InovosError: other settings, or masks without a record, without ``overwrite``
            (one line naming the differing fields); nothing is written then.
    """

    def change(old: dict[str, Any] | None) -> dict[str, Any]:
        if old is None:
            if unrecorded and not overwrite:
                shown = ", ".join(unrecorded[:5]) + (", ..." if len(unrecorded) > 5 else "")
                raise InovosError(
                    f"{folder} holds masks of {len(unrecorded)} sequence(s) ({shown}) but no "
                    f"{RECORD_NAME}, so their settings are unknown; --overwrite redoes them, "
                    "or choose another --out"
                )
            return new_record(settings, data)
        diffs = differences(old["settings"], settings)
        if diffs and not overwrite:
            raise InovosError(
                f"{folder / RECORD_NAME}: results made with other settings: "
                f"{'; '.join(diffs)}; --overwrite redoes them, or choose another --out"
            )
        if diffs:
            return new_record(settings, data)
        done = {k: v for k, v in old.get("sequences", {}).items() if not overwrite or k not in redo}
        return {**old, "environment": environment(), "sequences": done}

    return update_record(folder, change)


def add_sequence(folder: Path, name: str, entry: Mapping[str, Any]) -> None:
    """Record one finished sequence (and the run's totals and finish time)."""

    def change(old: dict[str, Any] | None) -> dict[str, Any]:
        if old is None:  # removed while running: keep what is known
            raise InovosError(f"{folder / RECORD_NAME} disappeared during the run")
        sequences = {**old.get("sequences", {}), name: {**entry, "finished": now()}}
        totals: dict[str, float] = {}
        for seq in sequences.values():
            for stage, seconds in seq.get("seconds", {}).items():
                totals[stage] = round(totals.get(stage, 0.0) + float(seconds), 3)
        return {**old, "sequences": sequences, "seconds": totals, "finished": now()}

    update_record(folder, change)


def summary_line(record: Mapping[str, Any]) -> str:
    """The settings of a record in one short line (for reports)."""
    s = record.get("settings", {})
    model = s.get("model", {})
    proto = s.get("protocol", {})
    source = str(model.get("source", "?"))
    if model.get("sha256"):
        source = f"{Path(source).name} (sha256 {str(model['sha256'])[:12]})"
    elif model.get("seed") is not None:
        source = f"{source} seed {model['seed']}"
    side = proto.get("short_side")
    knobs = (
        f"layer {proto.get('n_last')}, top-{proto.get('topk')}, context {proto.get('n_context')}, "
        f"radius {proto.get('radius')}, temperature {proto.get('temperature')}, "
        f"{'short side ' + str(side) if side else 'native size'}"
    )
    return (
        f"{source}; {proto.get('preset', '?')}: {knobs}; {s.get('feature_dtype', '?')}; "
        f"inovos {record.get('environment', {}).get('inovos', '?')}"
    )


def model_settings(source: str, *, which: str, seed: int, patch_size: int) -> dict[str, Any]:
    """How a ``--model`` source is recorded: a file by its sha256, ``random:ARCH`` with its
    seed, ``pixels`` (and any other named source) by name; with the patch size used."""
    from inovos.segment.models import file_sha256, source_file

    if source.startswith("random:"):
        return {"source": source, "seed": seed, "patch_size": patch_size}
    path = source_file(source)  # a named release: its file in the cache
    if path is not None and path.is_file():
        return {
            "source": str(path.resolve()),
            "sha256": file_sha256(path),
            "which": which,
            "patch_size": patch_size,
        }
    return {"source": source, "patch_size": patch_size}


def run_settings(
    model: Mapping[str, Any], preset: str, params: Any, feature_dtype: Any
) -> dict[str, Any]:
    """The compared settings of a run: model, every protocol knob, backbone dtype."""
    import dataclasses

    dtype = str(feature_dtype or "torch.float32").removeprefix("torch.")
    protocol = {"preset": preset, **_normal(dataclasses.asdict(params))}
    return {"model": dict(model), "protocol": protocol, "feature_dtype": dtype}
