"""What a sandbox needs from an engine: how to run one, find ours, and remove them."""

from __future__ import annotations

import json
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass

LABEL_PREFIX = "org.aishell"


@dataclass
class Identity:
    """Who the sandbox runs as, and how the engine maps that user."""

    uid: int
    gid: int
    user: str
    home: str


class Engine(ABC):
    name: str

    @abstractmethod
    def identity_args(self, identity: Identity) -> list[str]:
        """Arguments that make files created inside belong to `identity` on the host."""

    def uses_passwd_files(self) -> bool:
        """Whether the sandbox needs our passwd/group files (no engine-made entry for the user)."""
        return True

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
