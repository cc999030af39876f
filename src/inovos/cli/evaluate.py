"""Score predicted masks on DAVIS-2017 (semi-supervised J&F, the official protocol).

RESULTS holds one folder per sequence with a palette PNG per frame, named like the
ground truth (<RESULTS>/<sequence>/00001.png). The first and last frames are not
scored; the number of objects of a sequence is the largest id of its first
ground-truth frame. The official CSVs global_results-<split>.csv and
per-sequence_results-<split>.csv are (re)written into RESULTS every time.

--jhmdb ROOT scores keypoints (RESULTS/<class>/<video>/joint_positions.mat): PCK@0.1
and @0.2 per joint and their mean, written to RESULTS/pck_results.csv. --vip ROOT
scores parts (RESULTS/<video>/<frame>.png): IoU per class and mIoU over one confusion
matrix, written to RESULTS/miou_results.csv.
"""

from __future__ import annotations

import argparse

from inovos.cli._options import int_in
from inovos.cli._tasks import add_data_arguments, is_task, run_evaluate

HELP = "score predictions: DAVIS-2017 J&F (official CSVs), JHMDB PCK, VIP mIoU"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `inovos evaluate`."""
    parser.add_argument(
        "results", metavar="RESULTS", help="folder of predictions: RESULTS/<sequence>/<frame>.png"
    )
    parser.add_argument(
        "--davis",
        metavar="ROOT",
        help="DAVIS-2017 root holding Annotations/480p and ImageSets/2017",
    )
    add_data_arguments(parser.add_argument_group("keypoints and parts (instead of --davis)"))
    parser.add_argument(
        "--ytvos",
        metavar="ROOT",
        help="YouTube-VOS 2018 root instead: check that every video's masks are there "
        "(e.g. after --shard jobs) and write RESULTS/Annotations.zip (its ground truth is hidden)",
    )
    parser.add_argument(
        "--split",
        default=None,
        help="image set, read from ImageSets/2017/<split>.txt (default: val; valid for --ytvos)",
    )
    parser.add_argument(
        "--processes",
        type=int_in(1, 1024),
        default=None,
        metavar="N",
        help="worker processes (default: all CPU cores; 1 = no worker processes)",
    )
    parser.add_argument(
        "--sequences",
        default=None,
        metavar="A,B",
        help="comma-separated sequences of the split to score (default: the whole split)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--per-sequence",
        action="store_true",
        help="also print one row per object (sequence_objectid) at the end",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, say where the CSVs are; 0 on success."""
    if is_task(args) or not (args.davis or args.ytvos):
        return run_evaluate(args)
    from tqdm import tqdm

    from inovos.errors import InovosError
    from inovos.evaluation.davis import evaluate_davis
    from inovos.evaluation.results import global_table, per_object_table

    if bool(args.davis) == bool(args.ytvos):
        raise InovosError("give one of --davis ROOT (scores) or --ytvos ROOT (submission zip)")
    if args.ytvos:
        return _ytvos_zip(args)
    args.split = args.split or "val"
    sequences = None if args.sequences is None else args.sequences.split(",")

    bars: list[tqdm] = []

    def progress(name: str | None, _done: int, total: int) -> None:
        if name is None:  # inputs checked: show the bar from now on
            bars.append(
                tqdm(
                    total=total,
                    unit="seq",
                    desc="evaluate",
                    leave=False,
                    disable=args.no_progress,
                )
            )
        else:
            bars[0].set_postfix_str(name)
            bars[0].update(1)

    try:
        result = evaluate_davis(
            args.davis,
            args.results,
            split=args.split,
            processes=args.processes,
            sequences=sequences,
            progress=progress,
        )
    finally:
        for bar in bars:
            bar.close()
    if args.per_sequence:
        print(per_object_table(result))
        print()
    print(f"DAVIS-2017 {args.split}, J&F (%), objects averaged over all sequences:")
    print(global_table(result))
    print(f"wrote {result.global_csv}")
    print(f"wrote {result.per_sequence_csv}")
    return 0


def _ytvos_zip(args: argparse.Namespace) -> int:
    """Check that every (selected) video is complete, then write the submission zip."""
    from pathlib import Path

    from inovos.segment.shards import check_complete
    from inovos.vos.ytvos import YouTubeVOSDataset, write_ytvos_submission_zip

    dataset = YouTubeVOSDataset(args.ytvos, split=args.split or "valid")
    names = dataset.names if args.sequences is None else args.sequences.split(",")
    sequences = [dataset.sequence(n) for n in names]
    out = Path(args.results)
    check_complete(sequences, out)
    expected = {s.name: s.output_frames for s in sequences}
    print(f"wrote {write_ytvos_submission_zip(out, out / 'Annotations.zip', expected)}")
    return 0
