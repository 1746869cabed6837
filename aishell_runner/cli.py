"""The `aishell-run` command line: parse, dispatch, and turn every failure into one message."""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
import time

from . import __version__
from .commands import modules_for, named_command
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, AishellError
from .paths import state_dir
from .ui import UI

EPILOG = """examples:
  sudo aishell-run bootstrap                  make this machine ready (Docker or Podman)
  sudo aishell-run bootstrap --check --json   what would change, as JSON
  aishell-run build                           build the sandbox images, only what changed
  aishell-run COMMAND --help                  the options of one command

exit status: 0 ok, 1 failure, 2 usage or settings error, 3 refused by policy,
4 engine unavailable, 130 interrupted.
Colours are off when NO_COLOR is set or the output is not a terminal.
Commands run in a worker of a server of your own, which has aishell-run loaded
(in $XDG_RUNTIME_DIR/aishell, or without that in /tmp/aishell-UID; it ends after
20 idle minutes); AISHELL_RUN_SERVER=off runs each in its own process."""


# What may come before the command; every other option belongs to a command and comes after it.
GLOBAL_OPTIONS = ("--json", "--no-color", "--version", "--help", "-h")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would print and exit 2 itself; go through main()'s one-message path instead.
        self.print_usage(sys.stderr)
        raise AishellError(message, hint=f"see `{self.prog} --help`", exit_code=EXIT_USAGE)


def _add_output_flags(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument("--json", action="store_true", default=default,
                        help="print one JSON document on stdout, for scripts (progress and errors go to stderr)")
    parser.add_argument("--no-color", action="store_true", default=default,
                        help="no colours (also when NO_COLOR is set, or the output is not a terminal)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aishell-run",
        description="Run AI coding agents in hardened, throw-away sandboxes on Docker or Podman.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aishell-run {__version__}")
    _add_output_flags(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.only = named_command(argv or [])  # commands.wanted: the other commands' parsers are not built
    for command in modules_for(argv or []):
        command.register(subparsers)
        if hasattr(command, "NAME"):  # one command per module; modules with several set their own handlers
            subparsers.choices[command.NAME].set_defaults(handler=command.run)
    for sub in subparsers.choices.values():
        # Accepted after the command too (`aishell-run bootstrap --json`); SUPPRESS
        # keeps a flag given before the command from being reset to False.
        _add_output_flags(sub, default=argparse.SUPPRESS)
    return parser


def entry() -> int:
    """The `aishell-run` command (pyproject.toml's script); main() is what tests call in the same process."""
    # A command either ends soon or waits on a child process (the sandbox): the cycle collector's thirty-odd passes
    # during the imports (5 to 10 ms of a warm launch) free nothing, and reference counting frees the rest. Long
    # work in this process turns it back on: a playbook's events (playbook.py), a content scan (scan/content.py).
    gc.disable()
    # The interpreter's last act is a full collection of every object the imports made (measured: 10 to 30 ms of a
    # warm launch), just before the process's memory goes anyway; frozen objects are left out of it. atexit's
    # calls run before it, and after everything of ours.
    atexit.register(gc.freeze)
    return main()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Until the arguments are parsed, guess the output mode so that even a
    # usage error answers --json with a JSON document.
    ui = UI(json_mode="--json" in argv, no_color="--no-color" in argv)
    try:
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help and --version print, then exit 0
            return int(done.code or 0)
        except AishellError as error:
            misplaced = next((arg for arg in argv if arg.startswith("-")), None)
            if "invalid choice" in error.message and misplaced and misplaced not in GLOBAL_OPTIONS:
                error.hint = (f"{misplaced.split('=')[0]} belongs to a command: write it after the command, "
                              f"e.g. `aishell-run claude {misplaced} ...`")
            raise
        ui = UI(json_mode=args.json, no_color=args.no_color)
        if not getattr(args, "handler", None):
            parser.print_help(sys.stderr)
            raise AishellError("no command given", hint="pick one of the commands above", exit_code=EXIT_USAGE)
        return args.handler(args, ui)
    except AishellError as error:
        return _fail(ui, error.message, error.hint, error.exit_code)
    except KeyboardInterrupt:
        return _fail(ui, "interrupted", "run the same command again: it picks up where it stopped", EXIT_INTERRUPTED)
    except Exception as error:  # never a traceback on screen: it goes to a log, and we say where
        log = _write_crash_log()
        summary = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return _fail(ui, f"internal error: {summary}", f"the traceback is in {log}; please report it", EXIT_FAILURE)


def _fail(ui: UI, message: str, hint: str | None, exit_code: int) -> int:
    """One message on stderr; in JSON mode stdout still carries its one document."""
    ui.error(message, hint)
    if ui.json_mode and not ui.json_emitted:
        ui.emit_json({"ok": False, "error": message, "hint": hint, "exit_code": exit_code})
    return exit_code


def _write_crash_log() -> str:
    import traceback  # only after a crash: every start would pay for it

    try:
        logs = state_dir() / "logs"
        logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = logs / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.write_text(traceback.format_exc())
        return str(path)
    except OSError:
        return "(nowhere: the crash log could not be written)"


if __name__ == "__main__":
    sys.exit(entry())
