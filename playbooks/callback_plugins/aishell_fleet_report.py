"""Per-host report of a fleet run: a table at the end of the output and fleet-report.json.

Active only in runs of plays that set the variable `aishell_fleet_report: true` (playbooks/fleet.yml),
silent otherwise. It reads what Ansible itself knows, never text: the play's stats (changed, failed,
unreachable per host), failure events (task and reason), and the custom stats the roles publish with
set_stats: `aishell_bootstrap` (engines, versions, rootless users, verification), `aishell_fleet`
(settings layer and locks), `aishell_images` and `aishell_fleet_targets` (every host of the rollout,
so that hosts a stopped rollout never reached are reported too).

It sits next to the playbooks, so Ansible loads it for them without configuration, also under AWX.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: aishell_fleet_report
type: aggregate
short_description: Per-host table and fleet-report.json for playbooks/fleet.yml
description:
  - Reports each host of a fleet run (engine, version, rootless users, verification, changed tasks,
    failure and its reason) as a table and as JSON. Active only for plays that set aishell_fleet_report.
options:
  report_path:
    description: Where the JSON report is written.
    default: fleet-report.json
    env:
      - name: AISHELL_FLEET_REPORT
    ini:
      - section: callback_aishell_fleet_report
        key: report_path
"""

REPORT_VERSION = 1


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "aishell_fleet_report"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self) -> None:
        super().__init__()
        self.active = False
        self.failures: dict[str, dict[str, Any]] = {}

    def v2_playbook_on_play_start(self, play: Any) -> None:
        if play.get_vars().get("aishell_fleet_report") in (True, "true", "yes"):
            self.active = True

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            self._record(result, unreachable=False)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, unreachable=True)

    def _record(self, result: Any, *, unreachable: bool) -> None:
        # The first failure is the one that stopped the host; later ones are its consequences.
        host = result._host.get_name()
        self.failures.setdefault(host, {"task": result._task.get_name(), "message": _reason(result._result),
                                        "unreachable": unreachable})

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if not self.active:
            return
        report = build_report(stats, self.failures, check=bool(context.CLIARGS.get("check")))
        path = self.get_option("report_path")
        _write_atomically(path, report)
        self._display.banner("FLEET REPORT")
        self._display.display(render_table(report))
        self._display.display(f"Report: {os.path.abspath(path)}")


def _reason(result: dict[str, Any]) -> str:
    """Ansible's reason, with the last line of a command's stderr when the message alone says nothing."""
    for item in result.get("results") or []:  # a loop: the first failed item says more
        if isinstance(item, dict) and item.get("failed"):
            return _reason(item)
    message = str(result.get("msg") or "").strip()
    detail = next((str(result[key]).strip() for key in ("stderr", "module_stderr", "stdout")
                   if str(result.get(key) or "").strip()), "")
    if detail and (not message or message.startswith(("non-zero return code", "MODULE FAILURE"))):
        return f"{message}: {detail.splitlines()[-1]}" if message else detail.splitlines()[-1]
    return message or "no message from Ansible"


def build_report(stats: Any, failures: dict[str, dict[str, Any]], *, check: bool) -> dict[str, Any]:
    custom = stats.custom.get("_run", {}) if stats.custom else {}
    bootstrap = custom.get("aishell_bootstrap") or {}
    fleet = custom.get("aishell_fleet") or {}
    images = custom.get("aishell_images") or {}
    targets = custom.get("aishell_fleet_targets") or []
    hosts = sorted({*targets, *stats.processed, *failures})
    per_host = {}
    for host in hosts:
        failure = failures.get(host)
        if host in stats.dark or (failure and failure["unreachable"]):
            status = "unreachable"
        elif stats.failures.get(host) or failure:
            status = "failed"
        elif host in stats.processed:
            status = "ok"
        else:
            status = "not run"  # the rollout stopped first (max_fail_percentage, or a whole batch failed)
        engines = (bootstrap.get(host) or {}).get("engines") or {}
        per_host[host] = {
            "status": status,
            "engines": engines,
            "rootless_users": (bootstrap.get(host) or {}).get("rootless_users") or {},
            "verified": _verified(engines),
            "settings": (fleet.get(host) or {}).get("settings"),
            "images": images.get(host),
            "changed": stats.changed.get(host, 0),
            "failure": failure,
        }
    counts = {status: sum(1 for info in per_host.values() if info["status"] == status)
              for status in ("ok", "failed", "unreachable", "not run")}
    return {"version": REPORT_VERSION, "check": check, "ok": counts["ok"] == len(hosts) and bool(hosts),
            "counts": counts, "hosts": per_host}


def _verified(engines: dict[str, Any]) -> bool | None:
    """True when every engine ran a container, False when one did not, None when verification did not run."""
    verdicts = [info.get("verified") for info in engines.values() if isinstance(info, dict)]
    if not verdicts or any(verdict is None for verdict in verdicts):
        return None
    return all(verdicts)


def render_table(report: dict[str, Any]) -> str:
    rows = [("host", "status", "engine", "version", "rootless users", "verified", "changed", "why")]
    for host, info in report["hosts"].items():
        engines = info["engines"] or {}
        failure = info["failure"] or {}
        rows.append((
            host,
            info["status"],
            ", ".join(engines) or "-",
            ", ".join(str(e.get("version") or "?") for e in engines.values()) or "-",
            ", ".join(info["rootless_users"]) or "-",
            {True: "yes", False: "no", None: "not run"}[info["verified"]],
            str(info["changed"]),
            f"{failure['task']}: {failure['message']}" if failure else "",
        ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    counts = ", ".join(f"{count} {status}" for status, count in report["counts"].items() if count)
    heading = "Check mode: nothing was changed. " if report["check"] else ""
    return "\n".join([*lines, "", heading + (counts or "no hosts")])


def _write_atomically(path: str, document: dict[str, Any]) -> None:
    """A reader never sees half a report, and a failed write leaves the previous one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=directory, prefix=".fleet-report.", suffix=".json")
    with os.fdopen(handle, "w") as stream:
        json.dump(document, stream, indent=2, sort_keys=True)
        stream.write("\n")
    os.replace(scratch, path)
