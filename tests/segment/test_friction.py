"""Shared-cluster friction: file modes follow the umask, failed runs leave no empty
folders, colour masks are accepted, track never upscales a small video."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inovos.cli import main
from inovos.formats.palette import davis_palette, read_label_png
from inovos.records import read_record
from inovos.synth import write_synth_davis
from inovos.vos.davis import DavisDataset

FAST = ["--model", "pixels", "--no-progress"]


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("davis")
    return write_synth_davis(
        root / "d", num_sequences=1, num_frames=4, size=(72, 128), seed=3, progress=False
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_results_and_weights_follow_the_umask(
    davis: Path, tmp_path: Path, umask: int, expected: int
) -> None:
    from inovos.models.checkpoints import random_backbone, save_weights

    old = os.umask(umask)
    try:
        out = tmp_path / "res"
        args = ["propagate", "--davis", str(davis), "--out", str(out), "--evaluate"]
        assert main([*args, "--short-side", "64", *FAST]) == 0
        save_weights(random_backbone("vit_tiny", 16, seed=0), tmp_path / "w.safetensors")
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file()] + [tmp_path / "w.safetensors"]
    names = {p.name for p in files}
    assert {"run.json", "global_results-val.csv", "summary-val.json", "00000.png"} <= names
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in files} == {
        str(p.relative_to(tmp_path)): oct(expected) for p in files
    }


def test_a_failed_run_leaves_no_empty_folders(davis: Path, tmp_path: Path) -> None:
    seq = DavisDataset(davis)[0]
    frames, mask = seq.frame_paths[0].parent, seq.annotation_paths[0]
    out = tmp_path / "a" / "b" / "tracked"
    bad_model = ["--model", str(tmp_path / "missing.pth"), "--no-progress"]
    assert main(["track", str(frames), "--mask", str(mask), "--out", str(out), *bad_model]) == 2
    assert not (tmp_path / "a").exists()
    # a frame that cannot be decoded mid-way: the sequence folder made for it goes too
    broken = tmp_path / "frames"
    broken.mkdir()
    for p in seq.frame_paths:
        (broken / p.name).write_bytes(p.read_bytes())
    (broken / seq.frame_paths[-1].name).write_bytes(b"not a jpeg")
    res = tmp_path / "res"
    res.mkdir()  # existed before: kept
    args = ["propagate", "--frames", str(broken), "--mask", str(mask), "--out", str(res)]
    assert main([*args, "--short-side", "64", *FAST]) == 2
    assert res.is_dir() and list(res.iterdir()) in ([], [res / "run.json"])


def test_track_reads_colour_masks_and_keeps_small_videos_native(
    davis: Path, tmp_path: Path
) -> None:
    seq = DavisDataset(davis)[0]
    frames = seq.frame_paths[0].parent
    ids = seq.annotation(0)
    assert ids is not None
    ids = np.where(ids == 255, 0, ids).astype(np.uint8)
    Image.fromarray(davis_palette()[ids]).save(tmp_path / "rgb.png")
    Image.fromarray(davis_palette()[ids]).save(tmp_path / "mask.jpg", quality=92)
    for mask in ("rgb.png", "mask.jpg"):
        out = tmp_path / mask.replace(".", "_")
        code = main(
            ["track", str(frames), "--mask", str(tmp_path / mask), "--out", str(out), *FAST]
        )
        assert code == 0, mask
        first = read_label_png(out / f"{seq.frame_names[0]}.png")
        if mask == "rgb.png":
            np.testing.assert_array_equal(first, ids)
        else:  # JPEG-blurred colours of small objects: the same regions, ids by appearance
            pairs = {(int(a), int(b)) for a, b in zip(first.ravel(), ids.ravel(), strict=True)}
            majority = {
                a: max(
                    (b for x, b in pairs if x == a), key=lambda b: ((first == a) & (ids == b)).sum()
                )
                for a, _ in pairs
            }
            assert len(set(majority.values())) == len(majority) == len(np.unique(ids))
            relabelled = np.vectorize(majority.get)(first)
            assert (relabelled != ids).mean() < 0.02
        record = read_record(out)
        assert record is not None
        entry = record["sequences"][seq.name]
        # 72x128 frames: native size (the default short side 480 would upscale 6.7x)
        assert (
            entry["input_size"] == [72, 128]
            and record["settings"]["protocol"]["short_side"] is None
        )
    out = tmp_path / "sized"
    args = ["track", str(frames), "--mask", str(tmp_path / "rgb.png"), "--out", str(out)]
    assert main([*args, "--short-side", "96", *FAST]) == 0
    assert read_record(out)["sequences"][seq.name]["input_size"] == [96, 168]  # type: ignore[index]
