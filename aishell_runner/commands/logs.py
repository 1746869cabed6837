"""`aishell-run logs --network`: the requests the egress proxy refused, per session."""

from __future__ import annotations

import argparse
import os
from datetime import datetime

from ..egress import names_for
from ..engines import answering
from ..engines.base import Engine
from ..errors import EXIT_ENGINE_UNAVAILABLE, EXIT_USAGE, AishellError
from ..plan import session_prefix
from ..ui import UI

# squid.conf's logformat "aishell": time client status reason session method host:port ms url
FIELDS = ("time", "client", "status", "reason", "session", "method", "destination", "ms", "url")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "logs", help="list what the egress proxy refused a project's sandboxes",
        description="List the requests the egress proxy refused (allowlist networking), newest last: by default "
                    "those of this project's sessions, running or ended.",
        epilog="examples:\n  aishell-run logs --network\n  aishell-run logs --network --session aishell-app-1a2b3c4d"
               "\n  aishell-run logs --network --all --json | jq '.[].destination'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", action="store_true", required=True,
                        help="the egress proxy's refusals (the only log there is for now)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--session", help="only this session (a sandbox name, as `aishell-run ps` shows)")
    which.add_argument("--all", action="store_true", help="every session of every project")
    parser.add_argument("--project", help="the project whose sessions to list (default: the current directory's)")
    parser.set_defaults(handler=show)


def refusals(engine: Engine) -> list[dict[str, str]]:
    """Every refused request in the logs of the proxy and of the credential broker (the engine keeps them,
    rotated; both write squid's "aishell" format)."""
    names = names_for(os.getuid())
    lines = []
    for container in (names.proxy, names.broker):
        run = engine.run("logs", container)
        if run.returncode == 0:
            lines += run.stdout.splitlines()
    rows = []
    for line in lines:
        values = line.split(" ", len(FIELDS) - 1)
        if len(values) == len(FIELDS):
            row = dict(zip(FIELDS, values, strict=True))
            if row["reason"] != "-":
                rows.append({**row, "engine": engine.name})
    return rows


def show(args: argparse.Namespace, ui: UI) -> int:
    from ..project import find_project

    engines = answering()
    if not engines:
        raise AishellError("neither Docker nor Podman answers", hint="run `sudo aishell-run bootstrap`",
                           exit_code=EXIT_ENGINE_UNAVAILABLE)
    if args.project and args.session:
        raise AishellError("--project and --session choose the sessions differently: give one",
                           exit_code=EXIT_USAGE)
    rows = [row for engine in engines for row in refusals(engine)]
    if args.session:
        rows = [row for row in rows if row["session"] == args.session]
    elif not args.all:
        prefix = session_prefix(find_project(args.project))
        rows = [row for row in rows if row["session"].startswith(prefix)]
    rows.sort(key=lambda row: float(row["time"]))
    if ui.json_mode:
        ui.emit_json([{key: row[key] for key in ("time", "engine", "session", "method", "destination", "reason")}
                      for row in rows])
        return 0
    if not rows:
        ui.err.print("no refused requests")
        return 0
    from rich.table import Table

    table = Table(title="Requests the egress proxy refused")
    for column in ("when", "session", "request", "why"):
        table.add_column(column)
    for row in rows:
        when = datetime.fromtimestamp(float(row["time"])).strftime("%Y-%m-%d %H:%M:%S")
        # The broker's reasons name the variable after a colon: "credential_not_for_host:OPENAI_API_KEY".
        reason, _, variable = row["reason"].partition(":")
        why = reason.replace("_", " ") + (f" ({variable})" if variable else "")
        table.add_row(when, row["session"], f"{row['method']} {row['destination']}", why)
    ui.out.print(table)
    return 0


