"""The `aishell-run` command line: parse, dispatch, and turn every failure into one message."""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from . import __version__
from .commands import COMMANDS
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, AishellError
from .paths import state_dir
from .ui import UI

EPILOG = """examples:
  sudo aishell-run bootstrap              make this machine ready (Docker or Podman)
  aishell-run bootstrap --help            options of one command

exit status: 0 ok, 1 failure, 2 usage or settings error, 3 refused by policy,
4 engine unavailable, 130 interrupted."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 with usage: keep that, without a traceback
        self.print_usage(sys.stderr)
        raise AishellError(message, hint=f"see `{self.prog} --help`", exit_code=EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aishell-run",
        description="Run AI coding agents in hardened, throw-away sandboxes on Docker or Podman.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aishell-run {__version__}")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout, for scripts")
    parser.add_argument("--no-color", action="store_true", help="no colours (also: NO_COLOR=1, or not a terminal)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.register(subparsers)
        subparsers.choices[command.NAME].set_defaults(handler=command.run)
        # Global flags are accepted after the subcommand too.
        subparsers.choices[command.NAME].add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                                                      help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    ui = UI()
    try:
        args = build_parser().parse_args(argv)
        ui = UI(json_mode=args.json, no_color=args.no_color)
        if not getattr(args, "handler", None):
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        return args.handler(args, ui)
    except AishellError as error:
        ui.error(error.message, error.hint)
        return error.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted", "run the same command again: it picks up where it stopped")
        return EXIT_INTERRUPTED
    except Exception as error:  # never show a traceback: log it and say where
        log = _write_crash_log()
        ui.error(f"internal error: {error}", f"details in {log}; please report it")
        return EXIT_FAILURE


def _write_crash_log() -> str:
    try:
        logs = state_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.write_text(traceback.format_exc())
        return str(path)
    except OSError:
        return "(the crash log could not be written)"


if __name__ == "__main__":
    sys.exit(main())
