"""VOS readers: DAVIS-2017, YouTube-VOS 2018 valid, plain folders, and the submission zip."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inovos.vos.sequence as vos_module
from inovos.errors import InovosError
from inovos.formats.palette import read_label_png, write_label_png
from inovos.synth import write_synth_davis, write_synth_ytvos
from inovos.vos.davis import DavisDataset
from inovos.vos.folder import open_folder
from inovos.vos.ytvos import YouTubeVOSDataset, write_ytvos_submission_zip

SIZE = (6, 10)


def _frame(seed: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)


def _write_png_frame(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _mask(ids: tuple[int, ...], size: tuple[int, int] = SIZE) -> np.ndarray:
    labels = np.zeros(size, np.uint8)
    for j, k in enumerate(ids):
        labels[j, : j + 2] = k
    return labels


def make_davis(root: Path, names=("a", "b"), frames: int = 3) -> Path:
    """A hand-written DAVIS layout with lossless PNG frames (exact pixel checks)."""
    for s, name in enumerate(names):
        for t in range(frames):
            _write_png_frame(root / "JPEGImages/480p" / name / f"{t:05d}.png", _frame(10 * s + t))
            ann = root / "Annotations/480p" / name / f"{t:05d}.png"
            ann.parent.mkdir(parents=True, exist_ok=True)
            write_label_png(ann, _mask((1, 3, 255)))
    sets = root / "ImageSets/2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("\n".join(names) + "\n")
    return root


def make_ytvos(root: Path, frames: int = 11) -> Path:
    """One video "v": all frames, every 5th listed, object 1 at 00000 and 2 at 00005."""
    for t in range(frames):
        rgb = _frame(t)
        _write_png_frame(root / "valid_all_frames/JPEGImages/v" / f"{t:05d}.png", rgb)
        if t % 5 == 0:
            _write_png_frame(root / "valid/JPEGImages/v" / f"{t:05d}.png", rgb)
    ann = root / "valid/Annotations/v"
    ann.mkdir(parents=True)
    write_label_png(ann / "00000.png", _mask((1,)))
    write_label_png(ann / "00005.png", _mask((0, 2)))
    listed = [f"{t:05d}" for t in range(0, frames, 5)]
    meta = {
        "videos": {
            "v": {
                "objects": {
                    "1": {"category": "cat", "frames": listed},
                    "2": {"category": "dog", "frames": listed[1:]},
                }
            }
        }
    }
    (root / "valid/meta.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def synth_davis(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("davis")
    return write_synth_davis(
        out, num_sequences=2, num_frames=5, size=(48, 64), seed=3, progress=False
    )


@pytest.fixture(scope="module")
def synth_ytvos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ytvos")
    return write_synth_ytvos(
        out, num_sequences=2, num_frames=16, size=(48, 64), seed=4, progress=False
    )


# ---------------------------------------------------------------- DAVIS


def test_davis_reads_synth_layout(synth_davis: Path) -> None:
    dataset = DavisDataset(synth_davis)
    names = (synth_davis / "ImageSets/2017/val.txt").read_text().split()
    assert dataset.names == tuple(names) and len(dataset) == 2
    for seq in dataset:
        assert seq.num_frames == 5 and seq.frame_size == (48, 64)
        assert seq.frame_names == ("00000", "00001", "00002", "00003", "00004")
        assert seq.output_frames == seq.frame_names
        frame = seq.frame(4)
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        gt0 = read_label_png(synth_davis / "Annotations/480p" / seq.name / "00000.png")
        np.testing.assert_array_equal(seq.annotation(0), gt0)
        assert seq.object_ids == tuple(int(i) for i in np.unique(gt0) if i not in (0, 255))
        assert all(seq.first_frame_of[k] == 0 for k in seq.object_ids)
        assert all(seq.annotation(t) is None for t in range(1, 5))
        gt3 = read_label_png(synth_davis / "Annotations/480p" / seq.name / "00003.png")
        np.testing.assert_array_equal(seq.ground_truth(3), gt3)


def test_davis_hand_layout_exact(tmp_path: Path) -> None:
    root = make_davis(tmp_path)
    seq = DavisDataset(root)["b"]
    assert seq.name == "b" and seq.frame_size == SIZE
    np.testing.assert_array_equal(seq.frame(2), _frame(12))
    np.testing.assert_array_equal(seq.annotation(0), _mask((1, 3, 255)))
    assert seq.object_ids == (1, 3)  # void 255 excluded
    assert seq.new_objects_at(0) == (1, 3) and seq.new_objects_at(1) == ()
    assert DavisDataset(root)[0].name == "a"


def test_frames_are_read_lazily(tmp_path: Path, monkeypatch) -> None:
    root = make_davis(tmp_path, names=("a",), frames=4)
    calls: list[Path] = []
    real = vos_module.read_rgb
    monkeypatch.setattr(vos_module, "read_rgb", lambda p, s=None: calls.append(p) or real(p, s))
    seq = DavisDataset(root)["a"]
    assert calls == []  # opening decodes no frame
    new = _frame(99)
    _write_png_frame(seq.frame_paths[2], new)  # replaced after opening: read at call time
    np.testing.assert_array_equal(seq.frame(2), new)
    assert calls == [seq.frame_paths[2]]


def _davis_error_cases():
    def missing_root(root):
        return root / "nope", None

    def missing_frames_dir(root):
        import shutil

        shutil.rmtree(root / "JPEGImages")
        return root, root / "JPEGImages/480p"

    def missing_split(root):
        (root / "ImageSets/2017/val.txt").unlink()
        return root, root / "ImageSets/2017/val.txt"

    def empty_split(root):
        (root / "ImageSets/2017/val.txt").write_text("\n")
        return root, root / "ImageSets/2017/val.txt"

    def entry_without_folder(root):
        (root / "ImageSets/2017/val.txt").write_text("a\nghost\n")
        return root, root / "JPEGImages/480p/ghost"

    return [missing_root, missing_frames_dir, missing_split, empty_split, entry_without_folder]


@pytest.mark.parametrize("case", _davis_error_cases(), ids=lambda f: f.__name__)
def test_davis_dataset_errors_name_the_path(tmp_path: Path, case) -> None:
    root, path = case(make_davis(tmp_path / "d"))
    with pytest.raises(InovosError) as err:
        DavisDataset(root)
    assert str(path or root) in str(err.value)


def _sequence_error_cases():
    seq = Path("JPEGImages/480p/a")
    ann = Path("Annotations/480p/a")

    def no_frames(root):
        for p in (root / seq).iterdir():
            p.unlink()
        return root / seq

    def no_first_annotation(root):
        (root / ann / "00000.png").unlink()
        return root / ann / "00000.png"

    def annotation_wrong_size(root):
        write_label_png(root / ann / "00001.png", np.zeros((5, 10), np.uint8))
        return root / ann / "00001.png"

    def frame_wrong_size(root):
        _write_png_frame(root / seq / "00002.png", _frame(0, (6, 11)))
        return root / seq / "00002.png"

    def unreadable_frame(root):
        (root / seq / "00001.png").write_bytes(b"not an image at all")
        return root / seq / "00001.png"

    def empty_first_annotation(root):
        write_label_png(root / ann / "00000.png", np.zeros(SIZE, np.uint8))
        return root / ann / "00000.png"

    return [
        no_frames,
        no_first_annotation,
        annotation_wrong_size,
        frame_wrong_size,
        unreadable_frame,
        empty_first_annotation,
    ]


@pytest.mark.parametrize("case", _sequence_error_cases(), ids=lambda f: f.__name__)
def test_davis_sequence_errors_name_the_path(tmp_path: Path, case) -> None:
    root = make_davis(tmp_path)
    dataset = DavisDataset(root)
    path = case(root)
    with pytest.raises(InovosError) as err:
        dataset["a"]
    assert str(path) in str(err.value)


def test_truncated_frame_fails_when_read(tmp_path: Path) -> None:
    root = make_davis(tmp_path, names=("a",))
    seq = DavisDataset(root)["a"]
    data = seq.frame_paths[1].read_bytes()
    seq.frame_paths[1].write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    seq = DavisDataset(root)["a"]  # opening still succeeds (headers only)
    seq.frame(0)
    with pytest.raises(InovosError, match=re.escape(str(seq.frame_paths[1]))):
        seq.frame(1)


def test_davis_unknown_sequence(tmp_path: Path) -> None:
    dataset = DavisDataset(make_davis(tmp_path))
    with pytest.raises(InovosError, match=re.escape("val.txt")):
        dataset["zzz"]


# ---------------------------------------------------------------- YouTube-VOS


def test_ytvos_reads_synth_layout(synth_ytvos: Path) -> None:
    dataset = YouTubeVOSDataset(synth_ytvos)
    meta = json.loads((synth_ytvos / "valid/meta.json").read_text())["videos"]
    assert dataset.names == tuple(sorted(meta))
    for seq in dataset:
        assert seq.num_frames == 16
        assert seq.output_frames == ("00000", "00005", "00010", "00015")
        assert seq.object_ids == tuple(sorted(int(k) for k in meta[seq.name]["objects"]))
        for k, obj in meta[seq.name]["objects"].items():
            assert seq.frame_names[seq.first_frame_of[int(k)]] == obj["frames"][0]
        annotated = {t for t in range(16) if seq.annotation(t) is not None}
        assert annotated == set(seq.first_frame_of.values())
        for t in annotated:
            assert set(np.unique(seq.annotation(t))) - {0} == set(seq.new_objects_at(t))
        assert seq.ground_truth(3) is None
        assert seq.categories[1] == meta[seq.name]["objects"]["1"]["category"]


def test_ytvos_hand_layout(tmp_path: Path) -> None:
    root = make_ytvos(tmp_path)
    seq = YouTubeVOSDataset(root)["v"]
    assert seq.num_frames == 11 and seq.frame_size == SIZE
    assert seq.first_frame_of == {1: 0, 2: 5}
    assert seq.output_frames == ("00000", "00005", "00010")
    np.testing.assert_array_equal(seq.frame(7), _frame(7))
    np.testing.assert_array_equal(seq.annotation(5), _mask((0, 2)))
    assert seq.annotation(4) is None
    subset = YouTubeVOSDataset(root, all_frames=False)["v"]
    assert subset.frame_names == ("00000", "00005", "00010")
    assert subset.first_frame_of == {1: 0, 2: 1}
    np.testing.assert_array_equal(subset.frame(2), _frame(10))


def _ytvos_error_cases():
    def missing_meta(root):
        (root / "valid/meta.json").unlink()
        return root / "valid/meta.json"

    def bad_meta(root):
        (root / "valid/meta.json").write_text("{not json")
        return root / "valid/meta.json"

    def missing_all_frames(root):
        import shutil

        shutil.rmtree(root / "valid_all_frames")
        return root / "valid_all_frames/JPEGImages"

    def video_without_folder(root):
        import shutil

        shutil.rmtree(root / "valid/Annotations/v")
        return root / "valid/Annotations/v"

    return [missing_meta, bad_meta, missing_all_frames, video_without_folder]


@pytest.mark.parametrize("case", _ytvos_error_cases(), ids=lambda f: f.__name__)
def test_ytvos_dataset_errors_name_the_path(tmp_path: Path, case) -> None:
    root = make_ytvos(tmp_path)
    path = case(root)
    with pytest.raises(InovosError) as err:
        YouTubeVOSDataset(root)
    assert str(path) in str(err.value)


def _ytvos_sequence_error_cases():
    ann = Path("valid/Annotations/v")

    def no_annotation(root):
        for p in (root / ann).iterdir():
            p.unlink()
        return root / ann

    def object_never_annotated(root):
        (root / ann / "00005.png").unlink()
        return root / ann

    def annotation_wrong_size(root):
        write_label_png(root / ann / "00005.png", np.full((7, 10), 2, np.uint8))
        return root / ann / "00005.png"

    def listed_frame_missing(root):
        (root / "valid_all_frames/JPEGImages/v/00010.png").unlink()
        return root / "valid/JPEGImages/v/00010"

    def no_frames(root):
        for p in (root / "valid_all_frames/JPEGImages/v").iterdir():
            p.unlink()
        return root / "valid_all_frames/JPEGImages/v"

    return [
        no_annotation,
        object_never_annotated,
        annotation_wrong_size,
        listed_frame_missing,
        no_frames,
    ]


@pytest.mark.parametrize("case", _ytvos_sequence_error_cases(), ids=lambda f: f.__name__)
def test_ytvos_sequence_errors_name_the_path(tmp_path: Path, case) -> None:
    root = make_ytvos(tmp_path)
    dataset = YouTubeVOSDataset(root)
    path = case(root)
    with pytest.raises(InovosError) as err:
        dataset["v"]
    assert str(path) in str(err.value)


def test_submission_zip(tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    for vid, frames in {"v1": ("00000", "00005"), "v2": ("00000",)}.items():
        (preds / vid).mkdir(parents=True)
        for f in frames:
            write_label_png(preds / vid / f"{f}.png", _mask((1, 2)))
    path = write_ytvos_submission_zip(preds, tmp_path / "Annotations.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == [
            "Annotations/v1/00000.png",
            "Annotations/v1/00005.png",
            "Annotations/v2/00000.png",
        ]
        assert archive.read(names[1]) == (preds / "v1/00005.png").read_bytes()
    again = write_ytvos_submission_zip(preds, tmp_path / "again.zip")
    assert again.read_bytes() == path.read_bytes()  # deterministic
    only = write_ytvos_submission_zip(preds, tmp_path / "only.zip", expected={"v1": ["00005"]})
    with zipfile.ZipFile(only) as archive:
        assert archive.namelist() == ["Annotations/v1/00005.png"]  # only the listed frames
    with pytest.raises(InovosError, match=re.escape("v2/00005.png")):
        write_ytvos_submission_zip(
            preds, tmp_path / "x.zip", expected={"v1": ["00000"], "v2": ["00000", "00005"]}
        )
    with pytest.raises(InovosError, match=re.escape(str(tmp_path / "empty"))):
        (tmp_path / "empty").mkdir()
        write_ytvos_submission_zip(tmp_path / "empty", tmp_path / "y.zip")


# ---------------------------------------------------------------- plain folder


def test_folder_sequence_natural_order_and_mask(tmp_path: Path) -> None:
    for t in (10, 2, 1):
        _write_png_frame(tmp_path / "clip" / f"frame{t}.png", _frame(t))
    mask = tmp_path / "mask.png"
    Image.fromarray(_mask((1, 2))).save(mask)  # grayscale ids
    seq = open_folder(tmp_path / "clip", mask)
    assert seq.name == "clip"
    assert seq.frame_names == ("frame1", "frame2", "frame10")
    assert seq.output_frames == seq.frame_names
    np.testing.assert_array_equal(seq.frame(2), _frame(10))
    assert seq.object_ids == (1, 2) and seq.first_frame_of == {1: 0, 2: 0}
    np.testing.assert_array_equal(seq.annotation(0), _mask((1, 2)))
    assert seq.annotation(1) is None


def test_folder_binary_mask_is_object_one(tmp_path: Path) -> None:
    _write_png_frame(tmp_path / "clip" / "0.jpg", _frame(0))
    binary = np.zeros(SIZE, np.uint8)
    binary[2:4, 3:6] = 255
    Image.fromarray(binary).save(tmp_path / "m.png")
    seq = open_folder(tmp_path / "clip", tmp_path / "m.png", name="mine")
    assert seq.name == "mine" and seq.object_ids == (1,)
    np.testing.assert_array_equal(seq.annotation(0), (binary > 0).astype(np.uint8))


@pytest.mark.parametrize("problem", ["no_frames", "no_mask", "mask_size", "empty_mask", "rgb_mask"])
def test_folder_errors_name_the_path(tmp_path: Path, problem: str) -> None:
    folder, mask = tmp_path / "clip", tmp_path / "m.png"
    folder.mkdir()
    if problem != "no_frames":
        _write_png_frame(folder / "00000.png", _frame(0))
    expected = {"no_frames": folder}.get(problem, mask)
    if problem in ("no_frames", "empty_mask"):
        write_label_png(mask, np.zeros(SIZE, np.uint8))
    elif problem == "mask_size":
        write_label_png(mask, np.ones((3, 3), np.uint8))
    elif problem == "rgb_mask":
        Image.fromarray(_frame(5)).save(mask)
    with pytest.raises(InovosError) as err:
        open_folder(folder, mask)
    assert str(expected) in str(err.value)
