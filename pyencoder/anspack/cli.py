"""The ``anspack`` command line.

Each subcommand lives in its own module under :mod:`anspack.commands` and defines
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the parsed
arguments and returning an exit code). Errors a user can cause (bad files, bad options) print one
line on stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__
from .errors import FormatError
from .io import InputError


class UsageError(Exception):
    """A bad command-line option or input: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    parser = argparse.ArgumentParser(
        prog="anspack",
        description="Compress neural-network weights into browser-decodable .anspack files.",
    )
    parser.add_argument("--version", action="version", version=f"anspack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FormatError as e:
        print(f"anspack: error: {e}", file=sys.stderr)
        return 1
    except (UsageError, InputError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"anspack: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("anspack: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`anspack info m.anspack | head`): stop quietly, as other tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
