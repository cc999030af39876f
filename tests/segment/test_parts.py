"""VIP parts: the first-frame map and the readout against OpenCV (the reference code's
resizes), the reader, the look-alike writer, propagate + evaluate end to end, bad input."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inovos.cli import main
from inovos.errors import InovosError
from inovos.evaluation.vip import evaluate_vip
from inovos.formats.palette import read_label_png, write_label_png
from inovos.formats.parts import NUM_CLASSES, read_category_png
from inovos.segment.parts import first_frame_map, present_classes, read_classes
from inovos.synth.vip import write_synth_vip
from inovos.vos.vip import VipDataset


def test_first_frame_map_matches_opencv():
    rng = np.random.default_rng(0)
    ids = rng.choice([0, 4, 13, 255], size=(37, 53)).astype(np.uint8)
    classes = present_classes(ids)
    assert classes == (4, 13)
    size, grid = (64, 48), (8, 6)
    ours = first_frame_map(ids, classes, size, grid).numpy()
    big = cv2.resize(ids, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    big = np.where(big == 255, 0, big)
    onehot = np.stack([big == c for c in (0, *classes)], axis=-1).astype(np.float32)
    ref = cv2.resize(onehot, (grid[1], grid[0]), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(ours, ref.transpose(2, 0, 1), atol=1e-6)


def test_readout_matches_opencv_and_takes_the_first_class_on_ties():
    gen = torch.Generator().manual_seed(0)
    soft = torch.rand(3, 5, 7, generator=gen)
    classes = (2, 8)
    ours = read_classes(soft, classes, (40, 56), (40, 56))
    up = cv2.resize(soft.permute(1, 2, 0).numpy(), (56, 40), interpolation=cv2.INTER_LINEAR)
    ref = np.array((0, *classes), np.uint8)[up.argmax(axis=2)]
    assert (ours == ref).mean() > 0.999  # float rounding may flip exact near-ties
    tie = read_classes(torch.ones(3, 2, 2), classes, (16, 16), (8, 8))
    assert tie.shape == (8, 8) and (tie == 0).all()


@pytest.fixture(scope="module")
def vip(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vip") / "data"
    write_synth_vip(root, num_sequences=2, num_frames=4, size=(48, 64), seed=5, progress=False)
    return root


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_synth_layout_and_determinism(vip, tmp_path):
    ds = VipDataset(vip)
    assert ds.names == ("videos1", "videos2")
    video = ds.sequence("videos1")
    assert video.num_frames == 4 and sorted(video.label_paths) == [0, 1, 2, 3]
    labels = video.labels(0)
    assert labels.max() < NUM_CLASSES and len(present_classes(labels)) >= 8
    again = tmp_path / "again"
    write_synth_vip(again, num_sequences=2, num_frames=4, size=(48, 64), seed=5, progress=False)
    assert _digest(again) == _digest(vip)


def test_category_ids_at_the_top_as_in_crws_copy(vip, tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    (root / "Images").symlink_to(vip / "Images")
    (root / "Category_ids").symlink_to(vip / "Annotations" / "Category_ids")
    assert VipDataset(root).names == ("videos1", "videos2")  # no list: every video


def test_perfect_predictions_score_100(vip, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(vip / "Annotations" / "Category_ids", pred)
    labelled = {}
    for video in VipDataset(vip):
        frames = sorted(video.label_paths.items())
        labelled[video.name] = [(video.frame_names[i], path) for i, path in frames]
    result = evaluate_vip(labelled, pred)
    present = ~np.isnan(result.iou)
    assert (result.iou[present] == 1.0).all() and result.miou == 1.0
    assert result.frames == 8 and result.videos == 2
    lines = (pred / "miou_results.csv").read_text().splitlines()
    assert lines[0] == "class,IoU" and lines[-1] == "mIoU,100.00" and len(lines) == 22
    assert "nan" in lines[1 + 3]  # sun-glasses: absent from both sides


@pytest.mark.parametrize("model", ["pixels", "random:vit_tiny"])
def test_propagate_and_evaluate_end_to_end(vip, tmp_path, capsys, model):
    out = tmp_path / "out"
    args = ["propagate", "--vip", str(vip), "--model", model, "--out", str(out)]
    assert main([*args, "--square-size", "64", "--no-progress", "--device", "cpu"]) == 0
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) == 8
    first = read_label_png(out / "videos1" / "000001.png")
    gt = read_category_png(vip / "Annotations" / "Category_ids" / "videos1" / "000001.png")
    assert first.shape == gt.shape and (first == gt).mean() > 0.8  # read back via the grid
    assert main(["evaluate", str(out), "--vip", str(vip)]) == 0
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "right-arm" in printed
    miou = float((out / "miou_results.csv").read_text().splitlines()[-1].split(",")[1])
    assert 0.0 < miou <= 100.0


def test_class_id_of_20_or_more(vip, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(vip, root)
    png = root / "Annotations" / "Category_ids" / "videos2" / "000001.png"
    labels = read_label_png(png)
    labels[0, 0] = 23
    write_label_png(png, labels)
    out = tmp_path / "out"
    code = main(["propagate", "--vip", str(root), "--model", "pixels", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "class id 23 is not a VIP class" in err[0]
    assert not out.exists()  # checked before anything is written
    with pytest.raises(InovosError, match="class id 23"):
        read_category_png(png)
    labels[0, 0] = 255  # the ignore id is fine
    write_label_png(png, labels)
    assert read_category_png(png)[0, 0] == 255
