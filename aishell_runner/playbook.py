"""Run one of the project's playbooks through ansible-runner and collect what it reports.

The CLI never parses Ansible's text: task names come from runner events,
results from the custom stats the roles publish with `ansible.builtin.set_stats`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from .errors import AishellError
from .paths import project_root, state_dir

KEEP_RUNS = 10
ARG_SPEC_MARKERS = ("argument spec", "Validating arguments against arg spec")


@dataclass
class TaskFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False

    @property
    def is_argument_error(self) -> bool:
        """True when the role's meta/argument_specs.yml refused a variable."""
        return any(marker in f"{self.task} {self.message}" for marker in ARG_SPEC_MARKERS)


@dataclass
class PlaybookResult:
    rc: int
    status: str
    log: Path
    failures: list[TaskFailure] = field(default_factory=list)
    custom_stats: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def final_failure(self) -> TaskFailure | None:
        """The failure that stopped the play (earlier ones may have been rescued)."""
        return self.failures[-1] if self.failures else None


class EventCollector:
    """ansible-runner event handler: task names, failures and custom stats."""

    def __init__(self, on_task: Callable[[str], None] | None = None):
        self.on_task = on_task
        self.failures: list[TaskFailure] = []
        self.custom_stats: dict[str, Any] = {}
        self.changed: dict[str, int] = {}

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_task_start" and self.on_task:
            self.on_task(data.get("task") or data.get("name") or "")
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.failures.append(
                TaskFailure(
                    host=data.get("host", "?"),
                    task=data.get("task", "?"),
                    message=_failure_message(data.get("res") or {}),
                    unreachable=kind == "runner_on_unreachable",
                )
            )
        elif kind == "playbook_on_stats":
            # ansible-runner puts the play's global set_stats data here.
            self.custom_stats = data.get("artifact_data") or {}
            # Hosts with nothing changed are absent from "changed": list them with 0.
            hosts = {*(data.get("ok") or {}), *(data.get("changed") or {}), *(data.get("failures") or {})}
            self.changed = {host: (data.get("changed") or {}).get(host, 0) for host in sorted(hosts)}
        return True  # False would make ansible-runner drop the event


def _failure_message(res: dict[str, Any]) -> str:
    for key in ("msg", "stderr", "stdout", "module_stderr"):
        value = res.get(key)
        if value:
            return str(value).strip()
    return "no message from Ansible"


def run_playbook(
    name: str,
    extravars: dict[str, Any],
    *,
    check: bool = False,
    on_task: Callable[[str], None] | None = None,
    root: Path | None = None,
    inventory: Path | None = None,
) -> PlaybookResult:
    """Run playbooks/<name> of `root` (the project by default) against `inventory`."""
    root = root or project_root()
    playbook = root / "playbooks" / name
    if not playbook.is_file():
        raise AishellError(f"playbook not found: {playbook}", hint="set AISHELL_RUN_HOME to the aishell-run checkout")
    _put_our_ansible_first_on_path()
    if shutil.which("ansible-playbook") is None:
        raise AishellError(
            "ansible-playbook is not on PATH",
            hint="run `make` in the aishell-run checkout, or `pip install -e .`, and use its .venv/bin",
        )
    run_dir = _fresh_run_dir(name)
    collector = EventCollector(on_task)
    runner = ansible_runner.run(
        private_data_dir=str(run_dir),
        project_dir=str(root),
        playbook=str(playbook),
        inventory=str(inventory or root / "inventories" / "local" / "hosts.yml"),
        extravars=extravars,
        cmdline="--check --diff" if check else None,
        envvars={"ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(root / "roles")},
        event_handler=collector,
        # With a cancel callback ansible-runner leaves our signal handling
        # alone: Ctrl-C reaches us as KeyboardInterrupt and ansible-playbook
        # (same process group) as SIGINT.
        cancel_callback=lambda: False,
        quiet=True,
    )
    return PlaybookResult(
        rc=runner.rc,
        status=runner.status,
        log=Path(runner.config.artifact_dir) / "stdout",
        failures=collector.failures,
        custom_stats=collector.custom_stats,
        changed=collector.changed,
    )


def _put_our_ansible_first_on_path() -> None:
    """Use the ansible-playbook installed beside this interpreter (the project's venv),
    so that `.venv/bin/aishell-run` works without activating the venv."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def _fresh_run_dir(name: str) -> Path:
    """A new private data directory per run (no stale extravars); keeps the last few."""
    runs = state_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for old in sorted(runs.iterdir())[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    run_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6:06d}-{Path(name).stem}"
    run_dir.mkdir()
    return run_dir
