"""Run playbooks of this repository for tests, through ansible-runner (real Ansible)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

REPO = Path(__file__).resolve().parent.parent


@dataclass
class PlayOutcome:
    rc: int
    stats: dict
    custom_stats: dict
    failure_messages: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # the names of the tasks that ran (not skipped), in order

    def changed(self, host: str = "localhost") -> int:
        return self.stats.get("changed", {}).get(host, 0)


def run_play(playbook: str, tmp_path: Path, extravars: dict | None = None, cmdline: str = "") -> PlayOutcome:
    """Run `playbook` (relative to the repo) against this machine."""
    failures: list[str] = []
    custom: dict = {}
    ran: list[str] = []

    def on_event(event: dict) -> bool:
        data = event.get("event_data", {})
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            failures.append(json.dumps(data.get("res", {}).get("msg", "")))
        if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_item_on_ok"):
            ran.append(data.get("task", ""))
        if event.get("event") == "playbook_on_stats":
            custom.update(data.get("artifact_data") or {})
        return True

    private_dir = tmp_path / "runner"
    private_dir.mkdir(exist_ok=True)
    runner = ansible_runner.run(
        private_data_dir=str(private_dir),
        project_dir=str(REPO),
        playbook=str(REPO / playbook),
        inventory=str(REPO / "inventories/local/hosts.yml"),
        extravars=extravars or {},
        cmdline=cmdline or None,
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "roles")},
        event_handler=on_event,
        # Without a cancel callback ansible-runner takes over pytest's SIGINT/SIGTERM handlers.
        cancel_callback=lambda: False,
        quiet=True,
    )
    return PlayOutcome(rc=runner.rc, stats=runner.stats or {}, custom_stats=custom, failure_messages=failures,
                       ran=ran)
