"""`aishell-run bootstrap`: make this machine ready to run sandboxes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from rich.markup import escape
from rich.table import Table

from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, AishellError
from ..playbook import PlaybookResult, run_playbook
from ..ui import UI

NAME = "bootstrap"
EPILOG = """examples:
  sudo aishell-run bootstrap                                 # the OS family's natural engine
  sudo aishell-run bootstrap --engine podman --rootless-user alice
  sudo aishell-run bootstrap --engine docker --engine podman --check
  sudo aishell-run bootstrap --gvisor                        # and gVisor's runsc (security.runtime)
  sudo aishell-run bootstrap --json | jq .hosts

It installs the engine from the distribution's packages, configures it,
starts it (directly where there is no systemd) and runs a container to prove
it works. On macOS (run it without sudo) it makes a Lima VM with rootless
Podman (or --engine docker) instead: see docs/platforms.md. Safe to run
again: a converged machine is left as it is, and an interrupted run
converges from wherever it stopped.

exit status: 0 ok; 1 a task failed (the message names host, task, reason and
the full log); 2 usage error (a wrong option, a value the role refuses, or no
root); 130 interrupted."""


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
        help="existing user who gets rootless Podman (with --engine podman, or auto on RedHat); repeat for several",
    )
    parser.add_argument("--check", action="store_true", help="show what would change, change nothing")
    parser.add_argument("--wsl-systemd", action="store_true",
                        help="on WSL2: turn systemd on in /etc/wsl.conf, so that Docker runs as a service after "
                             "`wsl --shutdown` (until then it is started without an init system)")
    parser.add_argument("--gvisor", action="store_true",
                        help="also install gVisor's runsc from the distribution's packages and register it with "
                             "each engine (and rootless user), for security.runtime: runsc or auto; where it "
                             "cannot be had the summary says why. Without it, a registration by an earlier --gvisor "
                             "is kept while runsc is installed")


def run(args: argparse.Namespace, ui: UI) -> int:
    engines = args.engine or ["auto"]
    if args.rootless_user and not {"podman", "auto"} & set(engines):
        # The role sets rootless users up only with Podman: say so rather than skip them silently.
        raise AishellError("--rootless-user sets up rootless Podman, but Podman is not among the engines",
                           hint="add --engine podman", exit_code=EXIT_USAGE)
    _require_root()
    extravars = {"bootstrap_engines": engines, "container_runtime_rootless_users": args.rootless_user}
    if args.wsl_systemd:  # only when asked: an extra var would override the inventory's choice
        extravars["container_runtime_wsl_systemd"] = True
    if args.gvisor:
        extravars["container_runtime_gvisor"] = True
    title = "Checking this machine" if args.check else "Bootstrapping this machine"
    with ui.progress(title) as show_task:
        result = run_playbook("bootstrap.yml", extravars, check=args.check, on_task=show_task)
    if ui.json_mode:
        ui.emit_json(json_report(result, args.check))
    if not result.ok:
        raise failure_error(result)
    if not ui.json_mode:
        _print_summary(ui, result, args.check, args.gvisor)
        _warn_about_skipped_users(ui, result, args.rootless_user)
    return EXIT_OK


def _require_root() -> None:
    """Fail before Ansible starts, rather than at the first package task."""
    if os.geteuid() == 0 or sys.platform == "darwin":  # macOS: Homebrew and Lima run as the user (roles/lima)
        return
    try:
        has_sudo = subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        has_sudo = False
    if not has_sudo:
        raise AishellError(
            "bootstrap needs root to install packages",
            hint="run it with sudo (`sudo aishell-run bootstrap`), or allow passwordless sudo for this user",
            exit_code=EXIT_USAGE,
        )


def host_reports(result: PlaybookResult) -> dict[str, dict[str, Any]]:
    """The role's `aishell_bootstrap` custom stat, keyed by host; entries that are not mappings are dropped."""
    reports = result.custom_stats.get("aishell_bootstrap")
    if not isinstance(reports, dict):
        return {}
    return {host: report for host, report in reports.items() if isinstance(report, dict)}


def json_report(result: PlaybookResult, check: bool) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "check": check,
        "hosts": host_reports(result),
        "changed": result.changed,
        "failures": [asdict(failure) for failure in result.failures],
        "log": str(result.log),
    }


def failure_error(result: PlaybookResult) -> AishellError:
    """One message for a failed run: host, task and Ansible's reason, and where the full log is."""
    failure = result.final_failure
    if failure is None:
        return AishellError(f"bootstrap ended with status {result.status} (exit {result.rc})",
                            hint=f"full log: {result.log}")
    where = "is unreachable" if failure.unreachable else f"failed at '{failure.task}'"
    return AishellError(
        f"{failure.host} {where}: {failure.message}",
        hint=f"full log: {result.log}",
        exit_code=EXIT_USAGE if failure.is_argument_error else EXIT_FAILURE,
    )


def _verdict(value: Any) -> str:
    """verified: true, false, or absent/null when verification did not run (check mode)."""
    if value is True:
        return "[green]yes[/]"
    if value is False:
        return "[red]no[/]"
    return "not run"


def _gvisor(value: Any, asked: bool) -> str:
    """The report's gvisor entry ({available, reason}, or none when not asked for) in a cell. Asked for and
    still none: the engine was set up by a role that does not install runsc (macOS's Lima VM)."""
    if not isinstance(value, dict):
        return "[red]no[/]: this engine's set-up does not install runsc (macOS's Lima VM)" if asked else \
            "not asked (--gvisor)"
    if value.get("available") is True:
        return "[green]yes[/]"
    if value.get("available") is None:
        return "not run"
    return f"[red]no[/]: {escape(str(value.get('reason') or '?'))}"


def _cell(value: Any) -> str:
    return escape(str(value)) if value not in (None, "") else "?"


def _section(report: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, details) pairs of report[key], tolerating a missing or partial report."""
    entries = report.get(key)
    if not isinstance(entries, dict):
        return []
    return sorted((str(name), info if isinstance(info, dict) else {}) for name, info in entries.items())


def _warn_about_skipped_users(ui: UI, result: PlaybookResult, wanted: list[str]) -> None:
    """With --engine auto the role may pick Docker, which has no rootless users."""
    reported = {user for report in host_reports(result).values() for user, _ in _section(report, "rootless_users")}
    skipped = [user for user in wanted if user not in reported]
    if skipped:
        ui.err.print(f"note: no rootless Podman for {', '.join(skipped)}: the engine chosen here is not Podman "
                     "(ask for it with --engine podman)", markup=False, soft_wrap=True)


def _print_summary(ui: UI, result: PlaybookResult, check: bool, asked_gvisor: bool = False) -> None:
    reports = host_reports(result)
    if not reports:
        ui.out.print("The playbook reported no engines (no `aishell_bootstrap` custom stat).")
    engines = Table(title="Check mode: nothing was changed" if check else "Container engines")
    gvisor = asked_gvisor or any(isinstance(info.get("gvisor"), dict) for report in reports.values()
                                 for key in ("engines", "rootless_users") for _, info in _section(report, key))

    def gvisor_cell(info: dict[str, Any]) -> list[str]:
        return [_gvisor(info.get("gvisor"), asked_gvisor)] if gvisor else []

    for column in ("host", "engine", "version", "runs as", "verified", *(["gVisor (runsc)"] if gvisor else [])):
        engines.add_column(column, overflow="fold")
    users = Table(title="Rootless users")
    for column in ("host", "user", "storage", "verified", *(["gVisor (runsc)"] if gvisor else [])):
        users.add_column(column, overflow="fold")
    for host, report in sorted(reports.items()):
        for engine, info in _section(report, "engines"):
            engines.add_row(escape(host), escape(engine), _cell(info.get("version")), _cell(info.get("service")),
                            _verdict(info.get("verified")), *gvisor_cell(info))
        for user, info in _section(report, "rootless_users"):
            users.add_row(escape(host), escape(user), _cell(info.get("storage_driver")),
                          _verdict(info.get("verified")), *gvisor_cell(info))
    if engines.row_count:
        ui.out.print(engines)
    if users.row_count:
        ui.out.print(users)
    for host, report in sorted(reports.items()):  # what the role says the user must do (e.g. WSL's restart)
        for note in dict.fromkeys(report.get("notes") or []):
            ui.out.print(f"note ({host}): {note}", markup=False, soft_wrap=True)
    changes = ", ".join(f"{host}: {count}" for host, count in sorted(result.changed.items())) or "none"
    ui.out.print(f"{'Would change' if check else 'Changed'} tasks: {changes}", markup=False)
