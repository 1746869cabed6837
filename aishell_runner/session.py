"""One sandbox session: the launch spec executed with the user's terminal, and always cleaned up.

The container is removed when the session ends, and also when this process
gets SIGTERM or SIGHUP (forwarded as a removal) or Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping

from .engines.base import Engine


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def run_session(engine: Engine, argv: list[str], name: str, env: Mapping[str, str]) -> int:
    """Run `argv` (an `engine run` for container `name`); returns the sandboxed command's exit status."""

    def stop(signum, _frame):
        raise _Stop(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    child = None
    ended_normally = False
    try:
        child = subprocess.Popen(argv, env=dict(env))
        status = child.wait()
        ended_normally = True
        return status
    except _Stop as stopped:
        return 128 + stopped.signum
    except KeyboardInterrupt:
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # --rm removes the container when the command ends normally; when the
        # wrapper was stopped, the engine client may die first, so remove it here.
        if not ended_normally:
            engine.remove(name)
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def client_env(literal: Mapping[str, str], home: str) -> dict[str, str]:
    """The engine client's environment: the host's, plus the settings' literal values.

    `--env NAME` without a value makes the engine copy NAME from here, so
    values never appear in the command line.
    """
    return {**os.environ, **literal, "HOME": home}
