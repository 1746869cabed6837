"""What a sandbox needs from an engine: how to run one, find ours, and remove them."""

from __future__ import annotations

import json
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

LABEL_PREFIX = "org.aishell"


@dataclass
class Identity:
    """Who the sandbox runs as, and how the engine maps that user."""

    uid: int
    gid: int
    user: str
    home: str


def cgroup_limit_args(resources: Mapping[str, object]) -> list[str]:
    return ["--cpus", str(resources["cpus"]), "--memory", str(resources["memory"]),
            "--pids-limit", str(resources["pids"])]


class Engine(ABC):
    name: str

    @abstractmethod
    def identity_args(self, identity: Identity) -> list[str]:
        """Arguments that make files created inside belong to `identity` on the host."""

    def limit_args(self, resources: Mapping[str, object]) -> list[str]:
        """The engine arguments for the plan's `resources` (cpus, memory, pids)."""
        return cgroup_limit_args(resources)

    def owned_tmpfs(self, identity: Identity) -> str:
        """The --tmpfs options that make the mount belong to `identity` (the sandbox's private home)."""
        return f"uid={identity.uid},gid={identity.gid}"

    def internal_network_sysctls(self) -> list[str]:
        """Sysctls a sandbox on an internal network needs so that unreachable addresses fail at once."""
        return []

    def uses_passwd_files(self) -> bool:
        """Whether the sandbox needs our passwd/group files (no engine-made entry for the user)."""
        return True

    def pass_secrets(self, options: list[str], command: list[str], session: str, names: list[str],
                     env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """The engine options and the command with the secret variables `names` passed the engine's safest way.

        By default they stay `--env NAME`: the engine client copies the value from
        its own environment, so it is never in a command line.
        """
        return options, command

    def forget_secrets(self, session: str) -> None:
        """Remove what pass_secrets stored for `session`."""
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
