"""The entry point: exit statuses and the one-line error contract for any failure."""

from __future__ import annotations

import errno

import pytest

import inovos.cli.evaluate as evaluate_command
from inovos.cli import main
from inovos.errors import InovosError


def _failing_run(error: BaseException):
    def run(_args: object) -> int:
        raise error

    return run


ARGV = ["evaluate", "results", "--davis", "davis"]


@pytest.mark.parametrize(
    "error, expected",
    [
        (InovosError("first line\n  second line\n"), "first line; second line"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y.png"), "/x/y.png"),
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
        (PermissionError(errno.EACCES, "Permission denied", "/root/out"), "/root/out"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/a/file/x"), "/a/file/x"),
    ],
)
def test_user_errors_are_one_line_with_status_2(
    monkeypatch, capsys, error: BaseException, expected: str
) -> None:
    monkeypatch.setattr(evaluate_command, "run", _failing_run(error))
    assert main(ARGV) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("inovos evaluate: error: ")
    assert expected in err


def test_an_oserror_about_no_file_is_a_bug_and_keeps_its_traceback(monkeypatch) -> None:
    monkeypatch.setattr(evaluate_command, "run", _failing_run(OSError(errno.EINVAL, "bad")))
    with pytest.raises(OSError, match="bad"):
        main(ARGV)


def test_help_and_version_exit_0_usage_errors_exit_2(capsys) -> None:
    assert main(["--version"]) == 0
    assert main(["evaluate", "--help"]) == 0
    assert "--processes" in capsys.readouterr().out
    assert main(["evaluate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the following arguments are required" in err and "inovos evaluate --help" in err
