"""Command modules: each exposes `register(subparsers)`; its parsers carry their handler.

Modules are imported only when needed: a launch should not pay for importing
Ansible's runner or the bootstrap code (see `docs/benchmarks.md`).
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

# Which module registers each command, in the order `--help` lists them.
MODULE_OF = {
    "bootstrap": "bootstrap",
    "fleet": "fleet",
    "build": "build",
    "claude": "launch", "codex": "launch", "gemini": "launch", "opencode": "launch", "shell": "launch",
    "exec": "launch", "plan": "launch",
    "scan": "scan",
    "ps": "sessions", "attach": "sessions", "stop": "sessions", "gc": "sessions",
    "branches": "branches", "diff": "branches", "merge": "branches", "discard": "branches",
    "logs": "logs",
    "check": "check",
    "settings": "settings",
}


def named_command(argv: list[str]) -> str | None:
    """The command argv names, when it names one of ours."""
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    return named if named in MODULE_OF else None


def modules_for(argv: list[str]) -> list[ModuleType]:
    """The module of the command named in argv, or all of them (for --help and mistakes)."""
    named = named_command(argv)
    wanted = [MODULE_OF[named]] if named else list(dict.fromkeys(MODULE_OF.values()))
    return [importlib.import_module(f"{__name__}.{name}") for name in wanted]


def wanted(subparsers: argparse._SubParsersAction, command: str) -> bool:
    """Whether `command`'s parser is needed: when argv names a command (cli.build_parser records it as `only`),
    only that one's. A module of several commands builds the others' parsers for --help and mistakes only
    (a launch would pay for six parsers it never reads)."""
    only = getattr(subparsers, "only", None)
    return only is None or only == command
