"""One sandbox session: the launch spec executed with the user's terminal, and always cleaned up.

The launch spec (rendered by the sandbox_launch role) holds what every session of a plan shares: the
engine options, the environment's names and the image. A session adds its own parts (session_argv): its
name, a terminal, the engine's way of passing its variables, and its command (session_command). The
container is removed when the session ends, and also when this process gets SIGTERM or SIGHUP (forwarded
as a removal) or Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .egress import GATE_CLIENT
from .engines.base import Engine

if TYPE_CHECKING:
    from .plan import LaunchPlan

TMUX_SESSION = "aishell"
# An interactive session's command runs in tmux (so that `aishell-run attach` can join it). tmux exits 0
# whatever the agent did and takes the agent's screen away with it: so the pane keeps the agent's status
# and last screen in /tmp, and the session prints that screen again and exits with that status.
IN_PANE = ('status=0; "$@" || status=$?; tmux capture-pane -p -J > /tmp/.aishell-screen; '
           'echo "$status" > /tmp/.aishell-status')
IN_SESSION = (f"tmux new-session -s {TMUX_SESSION} sh -c '{IN_PANE}' aishell-agent \"$@\"; tmux_status=$?; "
              "[ -f /tmp/.aishell-status ] || exit $tmux_status; "
              "awk 'NF { last = NR } { line[NR] = $0 } END { for (i = 1; i <= last; i++) print line[i] }' "
              '/tmp/.aishell-screen; exit "$(cat /tmp/.aishell-status)"')


def session_argv(engine: str, options: list[str], env: list[str], image: str, command: list[str], *,
                 name: str, tty: bool | None = None) -> list[str]:
    """One session's engine command line: `ENGINE run` with the session's name and a terminal when there is
    one; then the spec's options, the options passing the environment (Engine.pass_env), the image and the
    session's command."""
    tty = sys.stdin.isatty() and sys.stdout.isatty() if tty is None else tty
    return [engine, "run", "--name", name, *(["--tty"] if tty else []), *options, *env, image, *command]


def session_command(plan: LaunchPlan) -> list[str]:
    """What runs in one session of `plan`: its command, after the settings' pre_start and, for an
    interactive session, inside the tmux wrapper (IN_SESSION); in allowlist mode all of it after the gate's
    forwarder has opened the proxy's port (egress.GATE_CLIENT, which then runs the rest in its place)."""
    command = plan.command
    if plan.pre_start:
        # The settings' pre_start commands run first, in the sandbox; then the
        # command replaces the shell, so its exit status is the session's.
        command = ["sh", "-c", " && ".join([*plan.pre_start, 'exec "$@"']), "pre_start", *command]
    if plan.interactive:
        # The session (and the container) ends when the agent exits, with its status (IN_SESSION).
        command = ["sh", "-c", IN_SESSION, "aishell-session", *command]
    if plan.network.get("mode") == "allowlist":
        command = [*GATE_CLIENT, *command]
    return command


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def run_session(engine: Engine, argv: list[str], name: str, env: Mapping[str, str],
                started: Callable[[], None] | None = None) -> int:
    """Run `argv` (an `engine run` for container `name`); returns the sandboxed command's exit status.
    `started` runs once the engine client has started (what can wait for it: the client's start cannot)."""

    def stop(signum, _frame):
        raise _Stop(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    child = None
    ended_normally = False
    try:
        child = subprocess.Popen(argv, env=dict(env))
        if started is not None:
            started()
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
