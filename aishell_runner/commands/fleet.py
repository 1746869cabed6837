"""`aishell-run fleet`: run playbooks/fleet.yml against a team's inventory, with progress per host."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, AishellError
from ..playbook import run_playbook
from ..ui import UI

NAME = "fleet"
EPILOG = """examples:
  aishell-run fleet -i inventories/example-team                   # every host
  aishell-run fleet -i inventories/example-team --limit ci_runners --check
  aishell-run fleet -i team.yml --serial 5 --max-fail-percentage 20
  aishell-run fleet -i team.yml --json | jq '.hosts | map_values(.status)'

Each host gets the team's settings layer (/etc/aishell/config.yaml, with its
locks), its container engines and, where the inventory asks, the sandbox
images. A host that fails or cannot be reached stops only itself; run the
same command again to converge it. The per-host report is also written to
fleet-report.json (--report).

exit status: 0 every host ok; 1 a host failed, was unreachable or was not
reached (the table says which and why); 2 usage error; 130 interrupted."""

STATUS_STYLE = {"ok": "green", "failed": "red", "unreachable": "red", "not run": "yellow"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="set up a team's machines over SSH: engines, settings with locks, images",
        description="Run playbooks/fleet.yml against an inventory of machines, with progress per host.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-i", "--inventory", required=True, type=Path, metavar="INVENTORY",
                        help="inventory file or directory (see inventories/example-team)")
    parser.add_argument("--limit", metavar="PATTERN", help="only these hosts or groups (Ansible's --limit)")
    parser.add_argument("--check", action="store_true", help="show what would change, change nothing")
    parser.add_argument("--serial", metavar="N", help="hosts per batch: a number or a percentage (default: all)")
    parser.add_argument("--max-fail-percentage", type=int, metavar="P",
                        help="stop before the next batch when more than P%% of a batch failed (default: never)")
    parser.add_argument("--report", type=Path, default=Path("fleet-report.json"), metavar="PATH",
                        help="where the JSON report is written (default: ./fleet-report.json)")


def run(args: argparse.Namespace, ui: UI) -> int:
    if not args.inventory.exists():
        raise AishellError(f"inventory not found: {args.inventory}", hint="give a file or directory such as "
                           "inventories/example-team", exit_code=EXIT_USAGE)
    if not targeted_hosts(args.inventory, args.limit):
        raise AishellError(f"no host of {args.inventory} matches" + (f" --limit {args.limit}" if args.limit else ""),
                           hint="list its hosts with `ansible-inventory -i INVENTORY --graph`", exit_code=EXIT_USAGE)
    extravars: dict[str, Any] = {}
    if args.serial:
        extravars["fleet_serial"] = args.serial
    if args.max_fail_percentage is not None:
        extravars["fleet_max_fail_percentage"] = args.max_fail_percentage
    report_path = args.report.resolve()
    report_path.unlink(missing_ok=True)  # a report left by an earlier run must not pass for this one
    progress = HostProgress(ui)
    with progress:
        result = run_playbook("fleet.yml", extravars, check=args.check, inventory=args.inventory.resolve(),
                              limit=args.limit, envvars={"AISHELL_FLEET_REPORT": str(report_path)},
                              on_event=progress.on_event)
    report = _read_report(report_path, result.log)
    if ui.json_mode:
        ui.emit_json({**report, "report": str(report_path), "log": str(result.log)})
    else:
        _print_report(ui, report, report_path)
    if result.final_failure and result.final_failure.is_argument_error:  # a variable the roles refuse
        failure = result.final_failure
        raise AishellError(f"{failure.host}: {failure.message}", hint=f"full log: {result.log}", exit_code=EXIT_USAGE)
    if not report["ok"]:
        bad = [host for host, info in report["hosts"].items() if info["status"] != "ok"]
        raise AishellError(f"{len(bad)} of {len(report['hosts'])} hosts did not converge: {', '.join(bad)}",
                           hint=f"the table says why; run the same command again to converge them "
                                f"(full log: {result.log})", exit_code=EXIT_FAILURE)
    return EXIT_OK


def targeted_hosts(inventory: Path, limit: str | None) -> list[str]:
    """The hosts a run would target, from Ansible's own inventory parser (no host is contacted)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    manager.subset(limit)
    return [host.name for host in manager.get_hosts("all")]


def _read_report(path: Path, log: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise AishellError(f"the playbook wrote no readable report at {path} ({error})",
                           hint=f"Ansible stopped before the end; full log: {log}") from None
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), dict):
        raise AishellError(f"{path} is not a fleet report", hint=f"full log: {log}")
    return report


class HostProgress:
    """One line per host with the task it runs now, from ansible-runner's events.

    A live table on a terminal; plain lines when stderr is a log; nothing in JSON mode off a terminal.
    """

    def __init__(self, ui: UI):
        self.ui = ui
        self.hosts: dict[str, dict[str, Any]] = {}
        self.live: Any = None

    def __enter__(self) -> HostProgress:
        if self.ui.interactive:
            from rich.live import Live

            self.live = Live(self._table(), console=self.ui.err, transient=True, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        if not host or not kind.startswith("runner_on_"):
            return
        state = self.hosts.setdefault(host, {"task": "", "changed": 0, "status": "running"})
        outcome = kind.removeprefix("runner_on_")
        if outcome == "start":
            state["task"] = data.get("task", "")
        elif outcome == "ok" and (data.get("res") or {}).get("changed"):
            state["changed"] += 1
        elif outcome == "unreachable" or (outcome == "failed" and not data.get("ignore_errors")):
            state["status"] = "unreachable" if outcome == "unreachable" else "failed"
            if not self.live and not self.ui.json_mode:
                self.ui.err.print(f"  {host}: {state['status']} at {data.get('task', '?')}", markup=False)
        else:
            return
        if self.live is not None:
            self.live.update(self._table())
        elif outcome == "start" and not self.ui.json_mode:
            self.ui.err.print(f"  {host}: {state['task']}", markup=False, soft_wrap=True)

    def _table(self) -> Table:
        table = Table(title="Fleet", title_justify="left")
        for column in ("host", "now", "changed"):
            table.add_column(column)
        for host, state in sorted(self.hosts.items()):
            now = state["task"] if state["status"] == "running" else f"[red]{state['status']}[/]"
            table.add_row(escape(host), now if state["status"] != "running" else escape(now), str(state["changed"]))
        return table


def _verdict(value: Any) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]"}.get(value, "not run")


def _print_report(ui: UI, report: dict[str, Any], path: Path) -> None:
    title = "Check mode: nothing was changed" if report.get("check") else "Fleet"
    table = Table(title=title)
    for column in ("host", "status"):
        table.add_column(column, no_wrap=True)
    for column in ("engine", "version", "rootless", "verified", "changed"):
        table.add_column(column)
    why = []
    for host, info in sorted(report["hosts"].items()):
        engines = info.get("engines") or {}
        status = info.get("status", "?")
        table.add_row(
            escape(host),
            f"[{STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]",
            escape(", ".join(engines)) or "-",
            escape(", ".join(str(e.get("version") or "?") for e in engines.values())) or "-",
            escape(", ".join(info.get("rootless_users") or {})) or "-",
            _verdict(info.get("verified")),
            str(info.get("changed", 0)),
        )
        failure = info.get("failure")
        if failure:
            why.append(f"{host} ({status} at '{failure.get('task')}'): {failure.get('message')}")
        elif status == "not run":
            why.append(f"{host} (not run): the rollout stopped before its batch (max fail percentage)")
    ui.out.print(table)
    for line in why:  # below the table: reasons are long and a narrow column would shred them
        ui.out.print(line, markup=False, soft_wrap=True)
    counts = ", ".join(f"{n} {status}" for status, n in (report.get("counts") or {}).items() if n) or "no hosts"
    ui.out.print(f"{counts}. Report: {path}", markup=False)
