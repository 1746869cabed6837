"""Run one of the project's playbooks through ansible-runner and collect what it reports.

The CLI never parses Ansible's text: task names and failures come from
ansible-runner's events, results from the custom stats the roles publish with
`ansible.builtin.set_stats` (global, `per_host: false`), which ansible-runner's
display callback hands over as `event_data["artifact_data"]` of the final
`playbook_on_stats` event.
"""

from __future__ import annotations

import fcntl
import gc
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import AishellError
from .paths import install_root, state_dir

KEEP_RUNS = 10
# How long Ansible may take to stop after the first Ctrl-C before it is killed.
STOP_GRACE_SECONDS = 20
# Ansible's own words when a role's meta/argument_specs.yml refuses a variable.
ARG_SPEC_MARKERS = ("Validating arguments against arg spec", "argument spec", "Validation of arguments failed")
# Messages that say a command failed without saying why; its stderr says why.
GENERIC_MESSAGES = ("non-zero return code", "MODULE FAILURE")
# A task is shown once it does something (a result, not a skip), or once it has run this long without a result.
SHOW_RUNNING_AFTER_SECONDS = 0.5
# Results that show a task ran (or is running) on a host; a skip is none of them.
RAN_EVENTS = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_item_on_ok",
              "runner_item_on_failed", "runner_on_async_poll")
# Tasks that Ansible adds and a user would not recognise as a step.
UNSHOWN_ACTIONS = ("validate_argument_spec",)


def is_argument_spec_failure(task: str, message: str) -> bool:
    """True when a role's argument spec refused a variable: a usage error, not a broken machine."""
    return any(marker in task or marker in message for marker in ARG_SPEC_MARKERS)


@dataclass
class TaskFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False

    @property
    def is_argument_error(self) -> bool:
        return is_argument_spec_failure(self.task, self.message)


@dataclass
class PlaybookResult:
    rc: int
    status: str  # ansible-runner's: successful, failed, canceled, timeout
    log: Path  # the run's full Ansible output (artifacts/<ident>/stdout)
    failures: list[TaskFailure] = field(default_factory=list)
    custom_stats: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)  # changed tasks per host
    ok_tasks: dict[str, int] = field(default_factory=dict)  # ok tasks per host (changed ones included)

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def artifact_dir(self) -> Path:
        """ansible-runner's artifacts of this run: stdout, job_events/, rc, status."""
        return self.log.parent

    @property
    def final_failure(self) -> TaskFailure | None:
        """The failure that stopped the play (earlier ones may have been rescued)."""
        return self.failures[-1] if self.failures else None


class EventCollector:
    """ansible-runner event handler: task names, failures, stats, and Ansible's pid.

    `on_task` hears of the tasks that run, not of those skipped: a task is named at its first result, or by
    `show_a_long_task` once it has run SHOW_RUNNING_AFTER_SECONDS without one (an image build, say).
    """

    def __init__(self, on_task: Callable[[str], None] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.on_task = on_task
        self.on_event = on_event  # every event, e.g. for progress per host
        self._clock = clock
        self._pending: tuple[str, float] | None = None  # the task started and not shown yet, and when
        self.failures: list[TaskFailure] = []
        self.custom_stats: dict[str, Any] = {}
        self.changed: dict[str, int] = {}
        self.ok_tasks: dict[str, int] = {}
        # Events are emitted by the ansible-playbook process itself; its pid is
        # what an interruption needs to reach it (see _stop_ansible_on_signals).
        self.ansible_pid: int | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        self.ansible_pid = self.ansible_pid or event.get("pid")
        if self.on_event:
            self.on_event(event)
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_task_start":
            quiet = str(data.get("task_action") or "").rpartition(".")[2] in UNSHOWN_ACTIONS
            self._pending = None if quiet else (data.get("task") or data.get("name") or "", self._clock())
        elif kind == "runner_on_skipped":
            self._pending = None
        elif kind in RAN_EVENTS:
            self._show_pending()
        # ignore_errors is true, or null when not set: only real failures count.
        if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.failures.append(
                TaskFailure(
                    host=data.get("host", "?"),
                    task=data.get("task", "?"),
                    message=failure_message(data.get("res") or {}),
                    unreachable=kind == "runner_on_unreachable",
                )
            )
        elif kind == "playbook_on_stats":
            self.custom_stats = data.get("artifact_data") or {}
            # Each counter lists only the hosts where it is not zero; "processed" lists them all.
            hosts = sorted({*(data.get("processed") or {}), *(data.get("ok") or {}), *(data.get("changed") or {})})
            self.changed = {host: (data.get("changed") or {}).get(host, 0) for host in hosts}
            self.ok_tasks = {host: (data.get("ok") or {}).get(host, 0) for host in hosts}
        return True  # False would make ansible-runner drop the event from its artifacts

    def show_a_long_task(self) -> None:
        """Name the task at hand if it has been running a while with no result yet (called between outputs)."""
        if self._pending and self._clock() - self._pending[1] >= SHOW_RUNNING_AFTER_SECONDS:
            self._show_pending()

    def _show_pending(self) -> None:
        if self._pending and self.on_task:
            self.on_task(self._pending[0])
        self._pending = None


def failure_message(res: dict[str, Any]) -> str:
    """The reason Ansible gives for a failed task, in one readable piece."""
    items = res.get("results")
    if isinstance(items, list):  # a loop: "One or more items failed" says less than the first failed item
        for item in items:
            if isinstance(item, dict) and item.get("failed"):
                label = item.get("_ansible_item_label", item.get(item.get("ansible_loop_var", "item")))
                prefix = f"{label}: " if isinstance(label, str | int | float) else ""
                return prefix + failure_message(item)
    message = str(res.get("msg") or "").strip()
    detail = next((str(res[key]).strip() for key in ("stderr", "module_stderr", "stdout", "module_stdout")
                   if str(res.get(key) or "").strip()), "")
    if message and detail and message.startswith(GENERIC_MESSAGES):
        # The last line of a command's stderr is where the reason usually is.
        return f"{message.splitlines()[0]}: {detail.splitlines()[-1]}"
    return message or detail or "no message from Ansible"


def run_playbook(
    name: str,
    extravars: dict[str, Any],
    *,
    check: bool = False,
    on_task: Callable[[str], None] | None = None,
    root: Path | None = None,
    inventory: Path | None = None,
    limit: str | None = None,
    envvars: dict[str, str] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> PlaybookResult:
    """Run `<root>/playbooks/<name>` (root: the project by default) and collect what it reported.

    Raises KeyboardInterrupt after stopping Ansible when the user pressed Ctrl-C.
    """
    root = root or install_root()
    playbook = root / "playbooks" / name
    if not playbook.is_file():
        raise AishellError(f"playbook not found: {playbook}", hint="set AISHELL_RUN_HOME to the aishell-run checkout")
    _put_our_ansible_first_on_path()
    if shutil.which("ansible-playbook") is None:
        raise AishellError(
            "ansible-playbook is not on PATH",
            hint="run `make` in the aishell-run checkout (or `pip install -e .`) and use its .venv/bin/aishell-run",
        )
    import ansible_runner  # here, not at the top: a warm launch never needs it (40 ms saved)

    gc.enable()  # off for a short command's start (cli.entry); a playbook's events run for minutes in this process

    collector = EventCollector(on_task, on_event)
    with _stop_ansible_on_signals(collector) as cancel, _environment_without_secrets(), \
            _fresh_run_dir(name) as run_dir:

        def between_outputs() -> bool:  # ansible-runner's cancel_callback
            collector.show_a_long_task()
            return cancel()

        runner = ansible_runner.run(
            private_data_dir=str(run_dir),
            project_dir=str(root),
            playbook=str(playbook),
            inventory=str(inventory or root / "inventories" / "local" / "hosts.yml"),
            extravars=extravars,
            cmdline="--check --diff" if check else None,
            limit=limit,
            envvars={"ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(root / "roles"),
                     **(envvars or {})},
            event_handler=collector,
            cancel_callback=between_outputs,
            # ansible-runner asks cancel_callback between waits for output: once a second.
            settings={"pexpect_timeout": 1},
            quiet=True,
        )
    return PlaybookResult(
        rc=runner.rc,
        status=runner.status,
        log=Path(runner.config.artifact_dir) / "stdout",
        failures=collector.failures,
        custom_stats=collector.custom_stats,
        changed=collector.changed,
        ok_tasks=collector.ok_tasks,
    )


# What Ansible may see of our environment. ansible-runner copies the whole
# environment into its artifacts (`command`, `env/envvars`), so API keys and
# other secrets the user exported must never reach it.
ENV_ALLOWED = {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TERM", "TMPDIR", "TZ", "VIRTUAL_ENV",
               "SSH_AUTH_SOCK", "DOCKER_HOST", "DOCKER_CONTEXT", "CONTAINER_HOST", "NO_COLOR",
               "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
               "NODE_EXTRA_CA_CERTS"}
ENV_ALLOWED_PREFIXES = ("LC_", "XDG_", "ANSIBLE_", "AISHELL_RUN_")
ENV_ALLOWED_SUFFIXES = ("_PROXY", "_proxy")


def _allowed_for_ansible(name: str) -> bool:
    return name in ENV_ALLOWED or name.startswith(ENV_ALLOWED_PREFIXES) or name.endswith(ENV_ALLOWED_SUFFIXES)


@contextmanager
def _environment_without_secrets() -> Iterator[None]:
    """Hide every variable Ansible does not need while ansible-runner runs, then restore them."""
    hidden = {name: value for name, value in os.environ.items() if not _allowed_for_ansible(name)}
    for name in hidden:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(hidden)


@contextmanager
def _stop_ansible_on_signals(collector: EventCollector) -> Iterator[Callable[[], bool]]:
    """Make Ctrl-C (or SIGTERM) stop Ansible, then re-raise it as KeyboardInterrupt.

    ansible-runner starts ansible-playbook through pexpect in a pty of its own,
    that is in a new session: a Ctrl-C at our terminal reaches only us. Without
    a cancel_callback ansible-runner would install SIGINT/SIGTERM handlers for
    good; with a do-nothing callback a Ctrl-C would leave ansible-playbook
    running unseen. So, for the length of the run only:
      1st signal: SIGINT to ansible-playbook's process group, as a terminal
                  would do; Ansible stops after the task at hand and we wait.
      2nd signal, STOP_GRACE_SECONDS later, or before Ansible's pid is known:
                  the callback says cancel and ansible-runner SIGKILLs the group.
    Yields the cancel_callback for ansible-runner.
    """
    received: list[tuple[int, float]] = []  # (signal, when)

    def on_signal(signum: int, _frame: Any) -> None:
        received.append((signum, time.monotonic()))
        pid = collector.ansible_pid
        if len(received) == 1 and pid:
            try:
                group = os.getpgid(pid)
                if group != os.getpgrp():  # never signal ourselves
                    os.killpg(group, signal.SIGINT)
            except ProcessLookupError:
                pass

    def cancel() -> bool:
        if not received:
            return False
        first_at = received[0][1]
        return len(received) > 1 or not collector.ansible_pid or time.monotonic() - first_at > STOP_GRACE_SECONDS

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield lambda: False
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        signum = received[0][0]
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise AishellError("stopped by SIGTERM; Ansible was stopped too", hint="run the same command again: "
                           "it converges from wherever it stopped", exit_code=128 + signum)


def _put_our_ansible_first_on_path() -> None:
    """Use the ansible-playbook installed beside this interpreter (the project's venv),
    so that `.venv/bin/aishell-run` works without activating the venv."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


IN_USE = ".in-use"  # a run's lock file: held (shared) while the run lasts


@contextmanager
def _fresh_run_dir(name: str) -> Iterator[Path]:
    """A new private data directory per run (no stale extravars from an earlier run), in use while the context
    lasts; keeps the last few, and every one still in use (a fleet's run lasts minutes, and the same user's
    launches meanwhile would otherwise remove its directory under it).

    Private to the user: ansible-runner records the whole environment in artifacts/<ident>/command.
    """
    runs = state_dir() / "runs"
    runs.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in sorted(path for path in runs.iterdir() if path.is_dir())[:-KEEP_RUNS]:
        _remove_unless_in_use(old)
    # Microseconds: names sort in start order, and two runs in one second do not collide.
    run_dir = runs / f"{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}-{Path(name).stem}"
    run_dir.mkdir(mode=0o700)
    with (run_dir / IN_USE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield run_dir


def _remove_unless_in_use(run_dir: Path) -> None:
    try:
        lock = (run_dir / IN_USE).open()
    except OSError:  # an older run's, without the file, or one being removed
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # its run goes on
        shutil.rmtree(run_dir, ignore_errors=True)

