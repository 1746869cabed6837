"""`aishell-run bootstrap`: make this machine ready to run sandboxes."""

from __future__ import annotations

import argparse
import os
import subprocess
from typing import Any

from rich.table import Table

from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, AishellError
from ..playbook import PlaybookResult, run_playbook
from ..ui import UI

NAME = "bootstrap"
EPILOG = """examples:
  sudo aishell-run bootstrap                                 # the OS family's natural engine
  sudo aishell-run bootstrap --engine podman --rootless-user alice
  sudo aishell-run bootstrap --engine docker --engine podman --check
  sudo aishell-run bootstrap --json | jq .hosts

It installs the engine from the distribution's packages, configures it,
starts it (directly where there is no systemd) and runs a container to prove
it works. Safe to run again: a converged machine is left as it is."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="install, configure and verify a container engine on this machine",
        description="Install, configure and verify Docker Engine or Podman on this machine (needs root).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--engine",
        action="append",
        choices=["auto", "docker", "podman"],
        help="engine to set up; repeat for both (default: auto = Podman on RedHat, Docker Engine elsewhere)",
    )
    parser.add_argument(
        "--rootless-user",
        action="append",
        default=[],
        metavar="NAME",
        help="existing user who gets rootless Podman; repeat for several",
    )
    parser.add_argument("--check", action="store_true", help="show what would change, change nothing")


def run(args: argparse.Namespace, ui: UI) -> int:
    _require_root()
    extravars = {
        "bootstrap_engines": args.engine or ["auto"],
        "container_runtime_rootless_users": args.rootless_user,
    }
    title = "Checking this machine" if args.check else "Bootstrapping this machine"
    with ui.progress(title) as show_task:
        result = run_playbook("bootstrap.yml", extravars, check=args.check, on_task=show_task)
    if ui.json_mode:
        ui.emit_json(_json_report(result, args.check))
    if not result.ok:
        _raise_failure(result, quiet=ui.json_mode)
    if not ui.json_mode:
        _print_summary(ui, result, args.check)
    return EXIT_OK


def _require_root() -> None:
    if os.geteuid() == 0:
        return
    try:
        has_sudo = subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        has_sudo = False
    if not has_sudo:
        raise AishellError(
            "bootstrap needs root to install packages, and sudo cannot be used without a password here",
            hint="run it with sudo (`sudo aishell-run bootstrap`), or allow passwordless sudo for this user",
            exit_code=EXIT_USAGE,
        )


def _hosts(result: PlaybookResult) -> dict[str, Any]:
    return result.custom_stats.get("aishell_bootstrap") or {}


def _json_report(result: PlaybookResult, check: bool) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "check": check,
        "hosts": _hosts(result),
        "changed": result.changed,
        "failures": [vars(failure) for failure in result.failures],
        "log": str(result.log),
    }


def _raise_failure(result: PlaybookResult, quiet: bool) -> None:
    first = result.final_failure
    if first is None:
        raise AishellError(f"bootstrap ended with status {result.status}", hint=f"full log: {result.log}")
    where = "unreachable" if first.unreachable else f"failed at '{first.task}'"
    raise AishellError(
        f"{first.host} {where}: {first.message}",
        hint=f"full log: {result.log}",
        exit_code=EXIT_USAGE if first.is_argument_error else EXIT_FAILURE,
    )


def _verdict(value: Any) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]"}.get(value, "not run")


def _print_summary(ui: UI, result: PlaybookResult, check: bool) -> None:
    table = Table(title="Check mode: nothing was changed" if check else "Container engines")
    for column in ("host", "engine", "version", "runs as", "verified"):
        table.add_column(column)
    users = Table(title="Rootless users")
    for column in ("host", "user", "storage", "verified"):
        users.add_column(column)
    for host, report in sorted(_hosts(result).items()):
        for engine, info in sorted((report.get("engines") or {}).items()):
            table.add_row(host, engine, info.get("version") or "?", info.get("service") or "?",
                          _verdict(info.get("verified")))
        for user, info in sorted((report.get("rootless_users") or {}).items()):
            users.add_row(host, user, info.get("storage_driver") or "?", _verdict(info.get("verified")))
    ui.out.print(table)
    if users.row_count:
        ui.out.print(users)
    changes = ", ".join(f"{host}: {count}" for host, count in sorted(result.changed.items())) or "none"
    ui.out.print(f"{'Would change' if check else 'Changed'} tasks: {changes}")
