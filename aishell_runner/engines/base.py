"""What a sandbox needs from an engine: how to run one, find ours, and remove them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping

LABEL_PREFIX = "org.aishell"


def env_options(names: list[str]) -> list[str]:
    """`--env NAME` for each name: the engine client copies each value from its own environment."""
    return [option for name in names for option in ("--env", name)]


class Engine:
    name: str

    def keeps_user_id(self) -> bool:
        """Whether the engine maps the user to the same IDs inside through a user namespace (rootless Podman)."""
        return False

    def limits(self) -> str:
        """How the plan's `resources` are enforced: "cgroup", or "nproc" where only the process count can be."""
        return "cgroup"

    def uses_passwd_files(self) -> bool:
        """Whether the sandbox needs our passwd/group files (no engine-made entry for the user)."""
        return True

    def pass_env(self, names: list[str], secret_names: list[str], session: str,
                 env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """The engine options that pass the variables `names` into `session`, and what the command must be
        prefixed with to receive them; `secret_names` are passed the engine's safest way.

        By default every one is `--env NAME`: the engine client copies the value from its own environment
        (`env`), so it is never in a command line.
        """
        return env_options(names), []

    def forget_secrets(self, session: str) -> None:
        """Remove what pass_env stored for `session`."""
        return None

    def leftover_secrets(self, live_sessions: set[str]) -> list[str]:
        """Secrets stored for sessions that are gone (for gc); removed as they are listed."""
        return []

    def cleanup_steps(self, session: str) -> list[list[str]]:
        """The commands that remove what `session` has in the engine, run if its wrapper dies (owner.py)."""
        return [self.command("rm", "--force", session)]

    def command(self, *args: str) -> list[str]:
        return [self.name, *args]

    def containers(self, label_filters: list[str]) -> list[dict]:
        """Our containers (running or not) matching every `key=value` label filter."""
        argv = self.command("ps", "--all", "--format", "{{json .}}")
        for label in label_filters:
            argv += ["--filter", f"label={label}"]
        run = subprocess.run(argv, capture_output=True, text=True)
        text = run.stdout.strip()
        if text.startswith("["):  # Podman prints one JSON array
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]  # Docker: a document a line

    def remove(self, name: str) -> None:
        """Remove a container whatever its state; quiet when it is already gone."""
        subprocess.run(self.command("rm", "--force", name), capture_output=True)
