"""Sessions never outlive the process that started them.

SIGTERM, SIGHUP and Ctrl-C reach the wrapper, which cleans up (session.py). SIGKILL does not: the
engine client and the container would run on until the command ends. So each session has

- a **watchdog**: a small shell, in a session of its own, that waits for the wrapper to be gone and
  then runs the session's clean-up (remove the container, its stored secrets, its proxy
  registration). The wrapper ends it when the session ends normally;
- a **record** in the state directory (owner PID, boot, clean-up), for what the watchdog cannot
  cover (the machine crashed, the watchdog was killed too): every later launch and `gc` run the
  clean-up of records whose owner is gone, which costs a directory listing when there are none.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
from pathlib import Path

from .paths import state_dir

POLL_SECONDS = 1  # how soon the watchdog sees that the wrapper is gone
CLEANUP_TIMEOUT = 60
_client: int | None = None  # the client that handed this process its command (prefork/server.py), if one did


def handed_over_by(client: int) -> None:
    """This process runs a command for `client` (prefork/server.py): its sessions belong to the client."""
    global _client
    _client = client


def wrapper_pid() -> int:
    """The process that a user sees and stops for this command: this one, or the client that handed it over."""
    return _client or os.getpid()


def records_dir() -> Path:
    return state_dir() / "sessions"


def boot_id() -> str:
    """This boot's identity (Linux); a PID of an earlier boot names nobody."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class Guard:
    """The record of one session, written before its engine client starts, and its watchdog (watch), started
    once the client runs: the client's start is what a launch waits for, and the record covers the moment
    between (see the module's docstring)."""

    def __init__(self, name: str, cleanup: list[list[str]]):
        self.record = records_dir() / f"{name}.json"
        self.record.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.cleanup = cleanup
        self.record.write_text(json.dumps({"owner": wrapper_pid(), "boot": boot_id(), "cleanup": cleanup}))
        self.watchdog: subprocess.Popen | None = None

    def watch(self) -> None:
        steps = "; ".join(f"{shlex.join(step)} >/dev/null 2>&1" for step in self.cleanup)
        script = (f"while kill -0 {wrapper_pid()} 2>/dev/null; do sleep {POLL_SECONDS}; done; {steps}; "
                  f"rm -f {shlex.quote(str(self.record))}")
        self.watchdog = subprocess.Popen(["sh", "-c", script], start_new_session=True,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)

    def release(self) -> None:
        """The session ended here, cleaned up by the wrapper: no watchdog, no record."""
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
        self.record.unlink(missing_ok=True)


def _owner_alive(record: dict) -> bool:
    if record.get("boot") != boot_id():
        return False
    try:
        os.kill(int(record["owner"]), 0)
    except (ProcessLookupError, PermissionError):  # gone, or the PID is another user's now: not our owner
        return False
    return True


def reap_orphans() -> list[str]:
    """Run the clean-up of every session whose owner is gone; returns their names."""
    try:
        paths = list(records_dir().glob("*.json"))
    except OSError:
        return []
    reaped = []
    for path in paths:
        try:
            record = json.loads(path.read_text())
            if _owner_alive(record):
                continue
            cleanup = record["cleanup"]
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # unreadable or half written: nothing it names can be cleaned
            continue
        for step in cleanup:
            # What a step removes may be gone already (the watchdog got that far): its failure says so,
            # and the next step still runs.
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(step, capture_output=True, timeout=CLEANUP_TIMEOUT)
        path.unlink(missing_ok=True)
        reaped.append(path.stem)
    return reaped
