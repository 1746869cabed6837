"""`aishell-run settings`: the effective settings of this project, each value with where it comes from."""

from __future__ import annotations

import argparse
import json

from ..project import find_project
from ..settings.origins import explain
from ..ui import UI

NAME = "settings"
EPILOG = """examples:
  aishell-run settings                      # every key: value and the file:line it comes from
  aishell-run settings --check              # only check every layer (for editors and CI); exit 2 if bad
  aishell-run settings --json | jq '.[] | select(.from != "default")'

Layers, nearest wins: /etc/aishell/config.yaml, ~/.config/aishell/config.yaml,
<project>/.aishell/config.yaml (docs/settings.md)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(NAME, help="show the effective settings and where each value comes from",
                                   description="Show every setting's effective value and its origin: a file and "
                                               "line, a lock of the system layer, or the default.",
                                   epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", help="project directory (default: the git work tree holding the current "
                                           "directory, or the current directory)")
    parser.add_argument("--check", action="store_true", help="only check the layers: nothing printed when good")
    parser.add_argument("--allow-risky-mounts", action="store_true",
                        help="check as a launch with --allow-risky-mounts would")


def run(args: argparse.Namespace, ui: UI) -> int:
    origins = explain(find_project(args.project), allow_risky_mounts=args.allow_risky_mounts)
    if args.check:
        if ui.json_mode:
            ui.emit_json({"ok": True})
        return 0
    if ui.json_mode:
        ui.emit_json([origin.as_dict() for origin in origins])
        return 0
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=True)
    for column in ("key", "value", "from"):
        table.add_column(column, overflow="fold")
    for origin in origins:
        source = origin.source + (f" (locked by {origin.locked_by})" if origin.locked_by else "")
        table.add_row(origin.key, escape(json.dumps(origin.value)), escape(source))
    ui.out.print(table)
    return 0
