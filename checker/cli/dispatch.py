"""The `udev-drift` command line: parse arguments, run one command, map errors to exit codes.

Exit status: 0 compliant, 1 drift remains, 2 usage error or invalid policy, 3 runtime
failure. No error reaches the terminal as a traceback (unless --debug asks for it).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import cast

from checker import __version__
from checker.cli.commands import COMMANDS, Command
from checker.cli.options import EPILOG, EXIT_FAILURE, RawDescription, add_debug
from checker.cli.visible import VisibleFormatter, visible
from checker.errors import UdevDriftError

log = logging.getLogger("udev-drift")

DESCRIPTION = """\
Check udev rules files and /dev symlinks against declarative policies.

A policy (YAML) says which udev rules must, or must not, be in which rules files, and
which /dev symlinks must exist. `check` compares the host with every policy and shows
each drifted item with the reason and a diff.
"""


def _command_word(argv: Sequence[str]) -> str | None:
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(only: str | None = None, listed: bool = True) -> argparse.ArgumentParser:
    """The whole command line. With `only`, just that command's module is imported; the
    others are listed by their summary (and hidden ones left out), unless not `listed`."""
    parser = argparse.ArgumentParser(
        prog="udev-drift", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=RawDescription)
    parser.add_argument("--version", action="version", version=f"udev-drift {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, (module, summary) in COMMANDS.items():
        if only is None or only == name:
            command = cast(Command, importlib.import_module(module))
            subparser = command.add_parser(commands, summary or "")
            add_debug(subparser)
            subparser.set_defaults(func=command.run)
        elif summary is not None and listed:
            commands.add_parser(name, help=summary)
    return parser


def _metrics_failed(args: argparse.Namespace, error: BaseException) -> None:
    """A failed `check --textfile-dir/--pushgateway` still writes run_success 0."""
    metrics = getattr(args, "metrics", None)  # set by commands that record metrics
    if metrics is not None:
        metrics.failed(error)


def main(argv: Sequence[str] | None = None) -> int:
    # A run builds large structures without cycles (20,000 parsed rules, 10,000 links)
    # and exits: the cyclic collector would only rescan them, again and again (a third of
    # the time of a large check), and free nothing. `serve`, which runs for months, turns
    # it back on; the caller's setting is restored on the way out.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run_command(argv)
    finally:
        if argv is None:
            # The process ends now (the console script, python -m checker): without this
            # the collection at interpreter exit walked every object of the run once more,
            # half a second after a check of a 20,000-rule host.
            gc.freeze()
        if collecting:
            gc.enable()


def _run_command(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    word = _command_word(words)
    # The other commands' entries are shown only by the top-level --help and by the error
    # for an unknown command: a known command named first (`check ...`, as every timer and
    # hook runs it) never shows them, and building them (eleven parsers, each looking for
    # its translations) was a fifth of the own work of a run answered from the caches.
    listed = not (words and word in COMMANDS and words[0] == word)
    parser = build_parser(only=word or "", listed=listed)
    args = parser.parse_args(words)
    handler = logging.StreamHandler()
    handler.setFormatter(VisibleFormatter("udev-drift: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, handlers=[handler],
                        force=True)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
        return status
    except UdevDriftError as error:
        _metrics_failed(args, error)
        # Lines of a message are split where it put them ('\n') and nowhere else: a vertical
        # tab or U+2028 in the input (which str.splitlines() breaks at) is shown, not obeyed.
        for line in str(error).split("\n"):
            print(f"udev-drift: {visible(line)}", file=sys.stderr)
        return error.exit_status
    except BrokenPipeError:
        # The reader went away (`| head`): not our failure, and nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt as error:
        _metrics_failed(args, error)
        print("udev-drift: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        _metrics_failed(args, error)
        if args.debug:
            traceback.print_exc()
        print(f"udev-drift: internal error: {type(error).__name__}: {visible(str(error))} "
              "(run again with --debug for the traceback, and please report it)", file=sys.stderr)
        return EXIT_FAILURE
