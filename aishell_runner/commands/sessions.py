"""`aishell-run ps`, `attach`, `stop` and `gc`: find our sandboxes by their labels."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from rich.table import Table

from .. import credentials, owner
from ..egress import forget_gone, names_for
from ..engines import answering
from ..engines.base import Engine
from ..errors import EXIT_ENGINE_UNAVAILABLE, EXIT_USAGE, AishellError
from ..session import TMUX_SESSION
from ..ui import UI

SANDBOX = "org.aishell.role=sandbox"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ps", help="list running sandboxes",
                                   description="List the sandboxes of every project (or of --project).",
                                   epilog="example:\n  aishell-run ps --json | jq '.[].name'",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", help="only this project's sandboxes")
    parser.set_defaults(handler=list_sandboxes)

    parser = subparsers.add_parser("attach", help="join a running sandbox's agent session (tmux)",
                                   description="Join the tmux session of a running sandbox; detach with Ctrl-b d.",
                                   epilog="examples:\n  aishell-run attach\n  aishell-run attach aishell-app-1a2b3c4d",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="sandbox name (default: the only one of this project)")
    parser.set_defaults(handler=attach)

    parser = subparsers.add_parser("stop", help="stop and remove sandboxes",
                                   description="Stop and remove one sandbox, or all of them.",
                                   epilog="examples:\n  aishell-run stop aishell-app-1a2b3c4d\n"
                                          "  aishell-run stop --all",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="sandbox name")
    parser.add_argument("--all", action="store_true", help="every sandbox of every project")
    parser.set_defaults(handler=stop)

    parser = subparsers.add_parser("gc", help="remove anything of ours left behind (found by labels)",
                                   description="Remove stopped sandboxes and dangling images that carry our labels.")
    parser.set_defaults(handler=collect_garbage)


def _engines() -> list[Engine]:
    found = answering()
    if not found:
        raise AishellError("neither Docker nor Podman answers", hint="run `sudo aishell-run bootstrap`",
                           exit_code=EXIT_ENGINE_UNAVAILABLE)
    return found


def _sandboxes(project: str | None = None) -> list[tuple[Engine, dict]]:
    filters = [SANDBOX] + ([f"org.aishell.project={Path(project).resolve()}"] if project else [])
    return [(engine, row) for engine in _engines() for row in engine.containers(filters)]


def _row(engine: Engine, container: dict) -> dict:
    labels = container.get("Labels") or {}
    if isinstance(labels, str):  # Docker gives "k=v,k=v"; Podman a mapping
        labels = dict(item.split("=", 1) for item in labels.split(",") if "=" in item)
    names = container.get("Names")
    return {
        "name": names[0] if isinstance(names, list) else names,
        "engine": engine.name,
        "project": labels.get("org.aishell.project"),
        "harness": labels.get("org.aishell.harness"),
        "status": container.get("Status") or container.get("State"),
        "running": str(container.get("State", "")).lower() == "running",
    }


def list_sandboxes(args: argparse.Namespace, ui: UI) -> int:
    rows = [_row(engine, container) for engine, container in _sandboxes(args.project)]
    if ui.json_mode:
        ui.emit_json(rows)
        return 0
    table = Table(title="Sandboxes")
    for column in ("name", "engine", "harness", "status", "project"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["engine"], row["harness"] or "?", row["status"] or "?", row["project"] or "?")
    ui.out.print(table)
    return 0


def _find(name: str | None) -> tuple[Engine, str]:
    candidates = [(engine, _row(engine, c)) for engine, c in _sandboxes(None if name else os.getcwd())]
    running = [(engine, row["name"]) for engine, row in candidates
               if row["running"] and (not name or row["name"] == name)]
    if len(running) == 1:
        return running[0]
    if not running:
        raise AishellError(f"no running sandbox {'named ' + name if name else 'for this project'}",
                           hint="`aishell-run ps` lists them", exit_code=EXIT_USAGE)
    raise AishellError("several sandboxes run for this project: " + ", ".join(n for _, n in running),
                       hint="name one: aishell-run attach NAME", exit_code=EXIT_USAGE)


def attach(args: argparse.Namespace, ui: UI) -> int:
    engine, name = _find(args.name)
    return subprocess.run(engine.command("exec", "-it", name, "tmux", "attach-session", "-t", TMUX_SESSION)).returncode


def stop(args: argparse.Namespace, ui: UI) -> int:
    if args.all == bool(args.name):
        raise AishellError("name one sandbox, or give --all", hint="`aishell-run ps` lists them", exit_code=EXIT_USAGE)
    targets = [(engine, _row(engine, c)["name"]) for engine, c in _sandboxes()] if args.all else [_find(args.name)]
    for engine, name in targets:
        engine.remove(name)
    if ui.json_mode:
        ui.emit_json({"stopped": [name for _, name in targets]})
    else:
        ui.err.print(f"stopped {len(targets)} sandbox(es)")
    return 0


def collect_garbage(args: argparse.Namespace, ui: UI) -> int:
    removed = [f"session {name} (its wrapper is gone)" for name in owner.reap_orphans()]
    all_live: set[str] = set()
    for engine in _engines():
        live = set()
        for container in engine.containers([SANDBOX]):
            row = _row(engine, container)
            if row["running"]:
                live.add(row["name"])
            else:
                engine.remove(row["name"])
                removed.append(f"{engine.name} container {row['name']}")
        removed += [f"{engine.name} secret {secret}" for secret in engine.leftover_secrets(live)]
        all_live |= live
        images = engine.run("images", "--quiet", "--filter", "dangling=true", "--filter", "label=org.aishell.role")
        for image in sorted(set(images.stdout.split())):
            if engine.run("rmi", image).returncode == 0:
                removed.append(f"{engine.name} image {image}")
    # One allowlist directory serves the user's proxies on every engine.
    names = names_for(os.getuid())
    removed += [f"egress registration of {session}" for session in forget_gone(names, all_live)]
    removed += [f"broker credentials of {session}" for session in credentials.forget_gone(names.broker_dir, all_live)]
    if ui.json_mode:
        ui.emit_json({"removed": removed})
    else:
        ui.err.print("\n".join(removed) or "nothing to remove")
    return 0
