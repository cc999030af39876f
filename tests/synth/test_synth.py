"""Look-alike data: determinism, motion and occlusion, the exact layouts, the CLI."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation

from inovos.cli import main
from inovos.errors import InovosError
from inovos.formats.palette import read_label_png
from inovos.synth import write_synth_davis, write_synth_ytvos
from inovos.synth.backgrounds import background_frames
from inovos.synth.common import prepare_output_dir
from inovos.synth.davis import add_void_band
from inovos.synth.scene import amodal_masks, render, render_labels, sample_scene
from inovos.synth.textures import sample_shape
from inovos.vos.davis import DavisDataset
from inovos.vos.ytvos import YouTubeVOSDataset

TINY = {"size": (48, 64), "progress": False}


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_davis_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_synth_davis(tmp_path / "a", num_sequences=2, num_frames=4, seed=7, **TINY)
    b = write_synth_davis(tmp_path / "b", num_sequences=2, num_frames=4, seed=7, **TINY)
    c = write_synth_davis(tmp_path / "c", num_sequences=2, num_frames=4, seed=8, **TINY)
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert len(ha) == 2 * 4 * 2 + 2  # jpg + png per frame, two split files
    assert ha == hb
    frames = [k for k in ha if k.endswith(".jpg")]
    assert all(ha[k] != hc.get(k) for k in frames)


def test_ytvos_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_synth_ytvos(tmp_path / "a", num_sequences=1, num_frames=8, seed=1, **TINY)
    b = write_synth_ytvos(tmp_path / "b", num_sequences=1, num_frames=8, seed=1, **TINY)
    assert _hashes(a) == _hashes(b)


def test_objects_move_and_occlude() -> None:
    rng = np.random.default_rng(0)
    size, frames = (96, 128), 20
    scene = sample_scene(rng, size, frames, ["astronaut", "coffee", "brick"], [0, 0, 0])
    areas = np.array(
        [[(render_labels(scene, t) == k).sum() for k in (1, 2, 3)] for t in range(frames)]
    )
    assert (areas[0] > 0).all()
    assert (areas.max(axis=0) - areas.min(axis=0) > 0.1 * areas.max(axis=0)).all()  # areas change
    centroids = []
    for t in (0, frames - 1):
        ys, xs = np.nonzero(amodal_masks(scene, t)[0])
        centroids.append((ys.mean(), xs.mean()))
    assert np.hypot(*np.subtract(*centroids)) > 10  # it travels
    # Occlusion: somewhere an object shows fewer pixels than its full in-frame extent.
    occluded = [
        (t, k)
        for t in range(frames)
        for k, full in enumerate(amodal_masks(scene, t).sum(axis=(1, 2)), start=1)
        if (render_labels(scene, t) == k).sum() < full
    ]
    assert occluded
    # The front object at an overlap is the later one in depth order.
    t, k = occluded[0]
    labels = render_labels(scene, t)
    hidden = amodal_masks(scene, t)[k - 1] & (labels != k)
    front = set(np.unique(labels[hidden])) - {0}
    assert front and all(scene.depth.index(f - 1) > scene.depth.index(k - 1) for f in front)


def test_render_composites_sprites_over_background() -> None:
    rng = np.random.default_rng(1)
    scene = sample_scene(rng, (40, 50), 3, ["coffee"], [0])
    background = np.full((40, 50, 3), 17, np.uint8)
    frame, labels = render(scene, 1, background)
    np.testing.assert_array_equal(labels, render_labels(scene, 1))
    far = ~binary_dilation(amodal_masks(scene, 1)[0], iterations=2)  # past anti-aliased edges
    assert (frame[far] == 17).all()  # untouched away from the object
    assert (frame[labels == 1] != 17).any(axis=1).mean() > 0.5  # textured object pixels


def test_background_pans_and_keeps_size() -> None:
    rng = np.random.default_rng(2)
    frames = list(background_frames(rng, "bikes", (30, 40), 5))
    assert len(frames) == 5 and all(f.shape == (30, 40, 3) and f.dtype == np.uint8 for f in frames)
    assert all(np.abs(a.astype(int) - b).mean() > 0.5 for a, b in itertools.pairwise(frames))


def test_shapes_are_varied_and_bounded() -> None:
    rng = np.random.default_rng(3)
    for kind in ("ellipse", "polygon", "blob"):
        alpha = sample_shape(rng, 32, kind)
        assert alpha.shape == (32, 32) and alpha.min() >= 0 and alpha.max() <= 1
        assert 0.1 < (alpha >= 0.5).mean() < 0.8
        assert (alpha[0] == 0).all() and (alpha[:, -1] == 0).all()  # fits in the canvas


def test_void_band_hand_case() -> None:
    labels = np.zeros((5, 6), np.uint8)
    labels[1:4, 1:4] = 2
    out = add_void_band(labels)
    expected = np.zeros((5, 6), np.uint8)
    expected[0:5, 0:5] = 255
    expected[2, 2] = 2  # the only object pixel with no other id in its 3x3 block
    np.testing.assert_array_equal(out, expected)


def test_davis_layout(tmp_path: Path) -> None:
    root = write_synth_davis(
        tmp_path,
        num_sequences=3,
        num_frames=6,
        split="train",
        backgrounds=["bikes"],
        void_prob=1.0,
        **TINY,
    )
    names = (root / "ImageSets/2017/train.txt").read_text().split()
    assert (root / "ImageSets/2017/val.txt").read_text() == ""
    assert len(names) == 3 and all(n.startswith("bikes-") for n in names)
    for name in names:
        jpgs = sorted(p.name for p in (root / "JPEGImages/480p" / name).iterdir())
        pngs = sorted(p.name for p in (root / "Annotations/480p" / name).iterdir())
        assert jpgs == [f"{t:05d}.jpg" for t in range(6)]
        assert pngs == [f"{t:05d}.png" for t in range(6)]
        with Image.open(root / "Annotations/480p" / name / "00001.png") as im:
            assert im.mode == "P" and im.size == (64, 48)
        first = read_label_png(root / "Annotations/480p" / name / "00000.png")
        assert 255 not in first and set(np.unique(first)) - {0}
        assert 255 in read_label_png(root / "Annotations/480p" / name / "00003.png")
    seq = DavisDataset(root, split="train")[0]
    assert len(seq.object_ids) in (2, 3)


def test_ytvos_layout(tmp_path: Path) -> None:
    root = write_synth_ytvos(
        tmp_path, num_sequences=3, num_frames=21, textures=["rocket", "moon"], **TINY
    )
    meta = json.loads((root / "valid/meta.json").read_text())["videos"]
    assert len(meta) == 3
    late = 0
    for vid, entry in meta.items():
        assert len(vid) == 10 and int(vid, 16) >= 0
        all_frames = sorted(p.stem for p in (root / "valid_all_frames/JPEGImages" / vid).iterdir())
        listed = sorted(p.stem for p in (root / "valid/JPEGImages" / vid).iterdir())
        assert all_frames == [f"{t:05d}" for t in range(21)]
        assert listed == [f"{t:05d}" for t in range(0, 21, 5)]
        for stem in listed:
            same = (root / "valid/JPEGImages" / vid / f"{stem}.jpg").read_bytes()
            assert same == (root / "valid_all_frames/JPEGImages" / vid / f"{stem}.jpg").read_bytes()
        firsts = {int(k): obj["frames"][0] for k, obj in entry["objects"].items()}
        assert firsts[1] == "00000"
        annotated = sorted(p.stem for p in (root / "valid/Annotations" / vid).iterdir())
        assert annotated == sorted(set(firsts.values()))  # only at first appearances
        for stem in annotated:
            ids = set(
                np.unique(read_label_png(root / "valid/Annotations" / vid / f"{stem}.png"))
            ) - {0}
            assert ids == {k for k, f in firsts.items() if f == stem}  # only the new objects
        for obj in entry["objects"].values():
            assert obj["category"] in ("rocket", "moon")
            assert obj["frames"] == [s for s in listed if s >= obj["frames"][0]]
        late += sum(f != "00000" for f in firsts.values())
    assert late > 0
    assert len(YouTubeVOSDataset(root)) == 3


@pytest.mark.parametrize("bad", ["file", "non_empty"])
def test_output_dir_refused(tmp_path: Path, bad: str) -> None:
    out = tmp_path / "out"
    if bad == "file":
        out.write_text("x")
    else:
        out.mkdir()
        (out / "keep.txt").write_text("x")
    with pytest.raises(InovosError, match=re.escape(str(out))):
        write_synth_davis(out, num_sequences=1, num_frames=2, **TINY)


def test_overwrite_replaces_only_the_layout(tmp_path: Path) -> None:
    write_synth_davis(tmp_path, num_sequences=2, num_frames=2, seed=0, **TINY)
    (tmp_path / "notes.txt").write_text("mine")
    write_synth_davis(tmp_path, num_sequences=1, num_frames=2, seed=1, overwrite=True, **TINY)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert len(list((tmp_path / "JPEGImages/480p").iterdir())) == 1


def test_unknown_names_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(InovosError, match="texture 'nope'"):
        write_synth_davis(tmp_path / "a", textures=["nope"], **TINY)
    with pytest.raises(InovosError, match="background 'nope'"):
        write_synth_ytvos(tmp_path / "b", backgrounds=["nope"], **TINY)
    with pytest.raises(InovosError, match="--frames"):
        write_synth_davis(tmp_path / "c", num_frames=1, **TINY)
    with pytest.raises(InovosError, match="split"):
        write_synth_davis(tmp_path / "d", split="test", **TINY)


def test_prepare_output_dir_not_writable(tmp_path: Path) -> None:
    # Tests run as root, which ignores mode bits: a folder under a regular file
    # cannot be created by anyone.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InovosError, match=re.escape(str(blocker))):
        prepare_output_dir(blocker / "sub", overwrite=False, owned=())


def test_cli_davis_end_to_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "davis"
    args = ["synth", "davis", str(out), "--sequences", "2", "--frames", "3"]
    args += ["--height", "32", "--width", "48", "--objects", "2", "--seed", "5", "--no-progress"]
    assert main(args) == 0
    assert "wrote 2 DAVIS-2017 sequences (6 frames, 4 objects)" in capsys.readouterr().out
    dataset = DavisDataset(out)
    assert len(dataset) == 2 and dataset[0].frame_size == (32, 48)
    assert main(args) == 2  # OUT now non-empty
    assert "not empty" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_cli_ytvos_end_to_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "yt"
    args = ["synth", "ytvos", str(out), "--sequences", "1", "--frames", "11"]
    args += ["--height", "32", "--width", "48", "--no-progress"]
    assert main(args) == 0
    assert "wrote 1 YouTube-VOS videos (11 frames" in capsys.readouterr().out
    assert YouTubeVOSDataset(out)[0].output_frames == ("00000", "00005", "00010")
    assert main(["synth", "ytvos", str(out / "x"), "--textures", "bogus"]) == 2


@pytest.mark.slow
def test_default_size_is_fast_enough(tmp_path: Path) -> None:
    start = time.perf_counter()
    write_synth_davis(tmp_path, num_sequences=4, num_frames=30, progress=False)
    assert time.perf_counter() - start < 60
