"""JHMDB keypoints: Gaussian label maps, the top-3 readout, the reader, the look-alike
writer, propagate + evaluate end to end, and bad input."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from inovos.cli import main
from inovos.errors import InovosError
from inovos.evaluation.jhmdb import evaluate_jhmdb
from inovos.formats.joints import read_joint_positions, save_mat
from inovos.segment.keypoints import gaussian_maps, grid_to_pixels, pixels_to_grid, read_joints
from inovos.synth.jhmdb import write_synth_jhmdb
from inovos.vos.jhmdb import JhmdbDataset

E2 = math.exp(-2.0)  # one cell away at sigma 0.5


def test_gaussian_map_by_hand():
    maps = gaussian_maps(np.array([[2.3, 1.6]]), (5, 6))
    # window: first cell trunc(p - 1.5), 4 cells, peak on the third: x 0..3 peak 2, y 0..3 peak 2
    joint = maps[1]
    assert joint[2, 2] == 1.0
    assert joint[2, 1] == joint[2, 3] == joint[1, 2] == joint[3, 2] == pytest.approx(E2)
    assert joint[0, 0] == pytest.approx(math.exp(-16.0))
    assert (joint[4] == 0).all() and (joint[:, 4:] == 0).all()
    assert ((maps[0] == 1) == (joint == 0)).all()  # background where no joint has mass


def test_gaussian_peak_rounds_half_up_and_clips_at_the_border():
    assert np.unravel_index(gaussian_maps(np.array([[2.5, 3.49]]), (8, 8))[1].argmax(), (8, 8)) == (
        3,
        3,
    )
    left = gaussian_maps(np.array([[-0.3, 4.0]]), (8, 8))[1]
    # first cell trunc(-1.8) = -1, last trunc(2.2) - 1 = 1: cells 0 and 1 of the window -1..1
    assert left[4, 1] == 1.0 and left[4, 0] == pytest.approx(E2) and left[4, 2] == 0.0
    outside = gaussian_maps(np.array([[-5.0, 4.0], [3.0, 20.0]]), (8, 8))
    assert (outside[1:] == 0).all() and (outside[0] == 1).all()


def test_readout_is_the_weighted_mean_of_the_top_three_cells():
    soft = torch.zeros(3, 4, 5)
    soft[1, 1, 1], soft[1, 1, 3], soft[1, 2, 1], soft[1, 0, 0] = 0.5, 0.25, 0.25, 0.1
    joints = read_joints(soft)
    assert joints[0].tolist() == [pytest.approx(1.5), pytest.approx(1.25)]
    assert np.isnan(joints[1]).all()  # no mass: no position


def test_pixel_grid_round_trip():
    pts = np.array([[10.0, 30.0], [319.0, 0.0]])
    grid = pixels_to_grid(pts, (240, 320), (40, 40))
    assert grid.tolist() == [[1.25, 5.0], [39.875, 0.0]]
    assert np.allclose(grid_to_pixels(grid, (240, 320), (40, 40)), pts)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def jhmdb(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("jhmdb") / "data"
    write_synth_jhmdb(root, num_sequences=2, num_frames=5, size=(48, 64), seed=3, progress=False)
    return root


def test_synth_layout_and_determinism(jhmdb, tmp_path):
    ds = JhmdbDataset(jhmdb)
    assert len(ds) == 2 and all("/" in n for n in ds.names)
    video = ds.sequence(ds.names[0])
    assert video.num_frames == 5 and video.frame_size == (48, 64)
    assert video.positions.shape == (2, 15, 5) and video.positions.min() >= 1.0
    assert video.joints()[:, :, 0].max() <= 63 and video.joints()[:, :, 1].max() <= 47
    assert (jhmdb / "Rename_Images").is_dir() and list((jhmdb / "splits").glob("*_test_split1.txt"))
    listed = JhmdbDataset(jhmdb, jhmdb / "testlist_split1.txt").names
    assert sorted(listed) == sorted(ds.names)
    again = tmp_path / "again"
    write_synth_jhmdb(again, num_sequences=2, num_frames=5, size=(48, 64), seed=3, progress=False)
    assert _digest(again) == _digest(jhmdb)


def test_official_split_without_list(jhmdb, tmp_path):
    root = tmp_path / "official"
    for sub in ("Rename_Images", "joint_positions", "splits"):
        (root / sub).parent.mkdir(parents=True, exist_ok=True)
        (root / sub).symlink_to(jhmdb / sub)
    assert sorted(JhmdbDataset(root).names) == sorted(JhmdbDataset(jhmdb).names)


def test_perfect_predictions_score_100(jhmdb, tmp_path):
    ds = JhmdbDataset(jhmdb)
    for video in ds:
        target = tmp_path / video.name / "joint_positions.mat"
        target.parent.mkdir(parents=True)
        save_mat(target, {"pos_img": video.positions})
    result = evaluate_jhmdb({v.name: v.joints() for v in ds}, tmp_path)
    assert (result.per_joint == 100.0).all() and result.means == (100.0, 100.0)
    assert result.scored.tolist() == [2 * 4] * 15  # first frames not scored
    text = (tmp_path / "pck_results.csv").read_text()
    assert text.splitlines()[0] == "joint,PCK@0.1,PCK@0.2,scored"
    assert text.splitlines()[-1] == "mean,100.00,100.00,120"


@pytest.mark.parametrize("model", ["pixels", "random:vit_tiny"])
def test_propagate_and_evaluate_end_to_end(jhmdb, tmp_path, capsys, model):
    out = tmp_path / "out"
    args = ["propagate", "--jhmdb", str(jhmdb), "--model", model, "--out", str(out)]
    assert main([*args, "--square-size", "64", "--no-progress", "--device", "cpu"]) == 0
    for video in JhmdbDataset(jhmdb):
        pred = _raw_pos_img(out / video.name / "joint_positions.mat")
        assert pred.shape == (2, 15, 5)
        # frame 0 read back from its own Gaussians: within one grid cell (8 px at 64x64)
        assert np.abs(pred[:, :, 0] - video.positions[:, :, 0]).max() < 8
    assert main(["evaluate", str(out), "--jhmdb", str(jhmdb)]) == 0
    printed = capsys.readouterr().out
    assert "PCK@0.1" in printed and "mean" in printed
    rows = (out / "pck_results.csv").read_text().splitlines()
    assert len(rows) == 17
    values = [float(v) for r in rows[1:] for v in r.split(",")[1:3]]
    assert all(0.0 <= v <= 100.0 for v in values)


def _raw_pos_img(path: Path) -> np.ndarray:
    import scipy.io

    return np.asarray(scipy.io.loadmat(str(path))["pos_img"])


def _copy(jhmdb: Path, tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(jhmdb, root)
    return root


def test_mat_without_pos_img(jhmdb, tmp_path, capsys):
    root = _copy(jhmdb, tmp_path)
    mat = sorted(root.rglob("joint_positions.mat"))[0]
    save_mat(mat, {"pos_world": np.zeros((2, 15, 5))})
    out = tmp_path / "out"
    code = main(["propagate", "--jhmdb", str(root), "--model", "pixels", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no 'pos_img'" in err[0]
    assert not out.exists()  # nothing written
    with pytest.raises(InovosError, match="pos_img"):
        read_joint_positions(mat)


def test_joints_outside_the_image(jhmdb, tmp_path, capsys):
    root = _copy(jhmdb, tmp_path)
    mat = sorted(root.rglob("joint_positions.mat"))[1]
    pos = read_joint_positions(mat)
    pos[:, :, 2] += 1000.0  # frame 3: every joint far outside the 64x48 image
    save_mat(mat, {"pos_img": pos})
    out = tmp_path / "out"
    code = main(["propagate", "--jhmdb", str(root), "--model", "pixels", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "outside the 64x48 image" in err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--overlays"], "--overlays does not apply"),
        (["--split", "val"], "--split does not apply"),
        (["--sweep", "topk=5,10"], "--sweep works with"),
        (["--davis", "x"], "exactly one of"),
    ],
)
def test_propagate_options_that_do_not_apply(jhmdb, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    args = ["propagate", "--jhmdb", str(jhmdb), "--model", "pixels", "--out", str(out), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_evaluate_needs_one_dataset_and_takes_sequences(jhmdb, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "exactly one of --davis, --jhmdb, --vip" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), "--jhmdb", str(jhmdb), "--per-sequence"]) == 2
    assert "--per-sequence does not apply" in capsys.readouterr().err
    first = JhmdbDataset(jhmdb).sequence(JhmdbDataset(jhmdb).names[0])
    target = tmp_path / first.name / "joint_positions.mat"
    target.parent.mkdir(parents=True)
    save_mat(target, {"pos_img": first.positions})
    assert main(["evaluate", str(tmp_path), "--jhmdb", str(jhmdb)]) == 2  # second one missing
    assert "prediction not found" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), "--jhmdb", str(jhmdb), "--sequences", first.name]) == 0
    assert "over 1 videos" in capsys.readouterr().out
