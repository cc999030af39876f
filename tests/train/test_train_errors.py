"""Output-folder and disk errors of ``inovos train``: one line naming the path, no traceback."""

from __future__ import annotations

from pathlib import Path

from inovos.atomic import TEMP_NAME
from inovos.cli import main as cli_main


def _args(out: Path, synth_list: Path, tiny_overrides: list[str], cache: Path) -> list[str]:
    args = ["train", "--preset", "tiny-cpu", "--data", str(synth_list), "--output", str(out)]
    return [*args, *tiny_overrides, f"data.index_cache={cache}"]


def test_output_under_a_regular_file_is_one_line(
    tmp_path: Path, synth_list: Path, tiny_overrides: list[str], capsys
) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "run"
    assert cli_main(_args(out, synth_list, tiny_overrides, tmp_path / "cache")) == 2
    err = capsys.readouterr().err
    assert err == (
        f"inovos train: error: cannot use {out} as the run folder: "
        f"{tmp_path / 'afile'} is a file, not a folder\n"
    )
    assert (tmp_path / "afile").read_text() == "x"


def test_a_full_disk_while_training_is_one_line_naming_the_file(
    small_disk: Path, tmp_path: Path, synth_list: Path, tiny_overrides: list[str], capsys
) -> None:
    out = small_disk / "run"
    args = _args(out, synth_list, tiny_overrides, tmp_path / "cache")
    # A head of 2048 prototypes makes the checkpoint (~2 MB) larger than the disk.
    args += ["model.out_dim=2048", "run.max_iters=1", "run.tensorboard=false"]
    assert cli_main([*args, "run.save_views=false"]) == 2
    err = capsys.readouterr().err  # progress bars (\r-separated) precede the message
    assert "Traceback" not in err and err.count("error") == 1
    last = err.rstrip("\n").split("\n")[-1].split("\r")[-1]
    assert last.startswith(f"inovos train: error: cannot write {out / 'checkpoint.pth'}: ")
    assert last.endswith(("No space left on device", "File too large"))
    assert not (out / "checkpoint.pth").exists()
    assert [p for p in out.rglob("*") if TEMP_NAME.match(p.name)] == []


def test_the_epoch_log_is_rewritten_whole_and_drops_a_half_line(tmp_path: Path) -> None:
    import json

    from inovos.train.logging_utils import JsonlLog

    path = tmp_path / "log.jsonl"
    path.write_text('{"epoch": 0}\n{"epoch": 1, "tra')  # a kill in the middle of an append
    log = JsonlLog(path)
    log.write({"epoch": 1, "loss": 0.5})
    log.write({"epoch": 2, "loss": 0.25})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [{"epoch": 0}, {"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl"]
    JsonlLog(tmp_path / "new" / "log.jsonl").write({"epoch": 0})
    assert (tmp_path / "new" / "log.jsonl").read_text() == '{"epoch": 0}\n'
