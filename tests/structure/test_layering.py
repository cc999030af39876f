"""Dependencies flow one way between the packages of inovos (read from the imports).

``formats`` (and ``errors``, ``atomic``) sit at the bottom and import nothing else;
the readers (``vos``), the training clips (``clips``), ``losses`` and ``evaluation``
stand alone; the generators (``synth``) may reuse a reader's layout; ``segment`` builds
on readers, models and propagation; ``report`` and ``cli`` sit on top. Function-level
imports count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import inovos

PACKAGE = Path(inovos.__file__).parent
LEAVES = {"errors", "atomic", "formats"}

# package -> the inovos packages it must never import
DATA = {"vos", "clips", "synth"}
ABOVE = {"segment", "report", "cli", "train", "demo", "api"}
FORBIDDEN: dict[str, set[str]] = {
    "formats": DATA
    | {"losses", "evaluation", "layers", "models", "propagation"}
    | ABOVE
    | {"config"},
    "layers": DATA | {"losses", "evaluation", "models", "propagation", "formats", "config"} | ABOVE,
    "vos": {"clips", "synth", "losses", "evaluation", "layers", "models", "propagation"} | ABOVE,
    "clips": {"vos", "synth", "losses", "evaluation", "models", "propagation"} | ABOVE,
    "synth": {"clips", "losses", "evaluation", "layers", "models", "propagation"} | ABOVE,
    "losses": DATA | {"evaluation"} | ABOVE,
    "evaluation": DATA | {"losses"} | ABOVE,
    "propagation": DATA | {"evaluation"} | ABOVE,
    "segment": {"report", "cli", "demo", "clips", "synth"},
    "report": {"cli", "clips"},
    "models": DATA | {"evaluation", "segment", "report", "cli", "demo"},
}

# Known exceptions still to be moved (file -> package it imports); nothing new may join.
KNOWN: set[tuple[str, str]] = set()


def _imported_packages(path: Path) -> set[str]:
    """First components after ``inovos.`` of every import in a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "inovos":
                names = [f"inovos.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "inovos" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_a_layer_above_or_beside_it(package: str) -> None:
    wrong = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for imported in _imported_packages(path) & FORBIDDEN[package]:
            if (relative, imported) not in KNOWN:
                wrong.append(f"{relative} imports inovos.{imported}")
    assert not wrong, wrong


def test_leaves_import_only_leaves() -> None:
    for leaf in ("errors.py", "atomic.py", "formats"):
        for path in (
            sorted((PACKAGE / leaf).rglob("*.py")) if leaf == "formats" else [PACKAGE / leaf]
        ):
            assert _imported_packages(path) <= LEAVES, path


def test_known_exceptions_still_exist() -> None:
    """An exception that was fixed must leave the list (the list only shrinks)."""
    for relative, imported in KNOWN:
        assert imported in _imported_packages(PACKAGE / relative), (relative, imported)


def test_nothing_below_the_command_line_parses_arguments() -> None:
    """Options and their parsing live in ``cli`` (reading a pickled Namespace is fine)."""
    for path in _modules():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("cli/"):
            continue
        text = path.read_text(encoding="utf-8")
        assert "ArgumentParser" not in text and ".add_argument(" not in text, relative
