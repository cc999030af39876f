"""The `inovos` command: one entry point, one module per subcommand.

Every module in this package that defines ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int`` is a subcommand named after the module (``_`` -> ``-``).
Modules keep heavy imports inside ``run`` so that ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from inovos import __version__
from inovos.cli._options import OneLineParser
from inovos.errors import InovosError

# Order of the subcommands in --help; modules not named here follow alphabetically.
_ORDER = ("demo", "synth", "propagate", "evaluate", "track", "train", "export", "report")


_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO}


def _subcommand_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))
    modules = [importlib.import_module(f"{__name__}.{n}") for n in names]
    return [m for m in modules if hasattr(m, "add_arguments") and hasattr(m, "run")]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with one sub-parser per subcommand."""
    parser = OneLineParser(
        prog="inovos",
        description="Train INO on unlabelled video, propagate object masks, score J&F.",
    )
    parser.add_argument("--version", action="version", version=f"inovos {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _subcommand_modules():
        name = module.__name__.rsplit(".", 1)[1].replace("_", "-")
        doc = (module.__doc__ or "").strip()
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=doc or module.HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status (2 for a usage error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version or a usage error, already printed
        return done.code if isinstance(done.code, int) else 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args._run(args))
    except InovosError as err:
        return _fail(args.command, str(err))
    except OSError as err:
        reason = err.strerror or type(err).__name__
        if err.filename is not None:
            return _fail(args.command, f"{err.filename}: {reason}")
        if err.errno in _DISK_ERRORS:  # a write to an open file: no name, still the user's disk
            return _fail(args.command, f"{reason} (writing the outputs)")
        raise  # not about the user's files: a bug, keep the traceback
    except KeyboardInterrupt:
        print(f"inovos {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, message: str) -> int:
    """Print ``inovos COMMAND: error: MESSAGE`` on one line; the exit status for it (2)."""
    text = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"inovos {command}: error: {text}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
