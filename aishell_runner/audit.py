"""The audit log: one JSON line per decision a user may want to look back on (state_dir()/audit.jsonl)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .paths import state_dir


def log_path() -> Path:
    return state_dir() / "audit.jsonl"


def record(project: Path, harness: str, decision: str, **details: Any) -> None:
    import getpass  # with termios: a launch records a decision only now and then, and every start would pay

    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "project": str(project),
        "harness": harness,
        "user": getpass.getuser(),
        "uid": os.getuid(),
        "decision": decision,
        **details,
    }
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(entry, sort_keys=True) + "\n")
