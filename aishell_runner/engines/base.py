"""What a sandbox needs from an engine: how to run one, find ours, and remove them."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from ..errors import EXIT_ENGINE_UNAVAILABLE, AishellError
from . import unix_http

LABEL_PREFIX = "org.aishell"
# Seconds an engine may take to answer one of our calls (an inspect, a listing, a removal): longer means
# it hangs, and a launch should say so rather than wait forever.
ENGINE_TIMEOUT = 60


def env_options(names: list[str]) -> list[str]:
    """`--env NAME` for each name: the engine client copies each value from its own environment."""
    return [option for name in names for option in ("--env", name)]


class Engine:
    name: str
    version_format = "{{.Server.Version}}"  # `version --format`: the engine's own version
    storage_format = "{{.Driver}} {{.DockerRootDir}}"  # `info --format`: storage driver and where it keeps images
    service_endpoints: ClassVar[dict[str, str]] = {}  # kind -> its inspect path, `{}` the name

    def run(self, *args: str, timeout: float = ENGINE_TIMEOUT, env: Mapping[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """`ENGINE ARGS` with its output captured: every call of ours to an engine's client goes through here.
        An engine that is missing or does not answer in `timeout` is an AishellError (exit 4) naming the
        call; a non-zero status is the caller's to read, since "no such image" is often the answer wanted."""
        argv = self.command(*args)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  env=None if env is None else dict(env))
        except FileNotFoundError:
            raise AishellError(f"{self.name} is not installed", hint="run `sudo aishell-run bootstrap`",
                               exit_code=EXIT_ENGINE_UNAVAILABLE) from None
        except subprocess.TimeoutExpired:
            raise self._hung(argv, timeout) from None

    def _hung(self, argv, timeout: float) -> AishellError:
        return AishellError(f"{self.name} did not answer `{' '.join(map(str, argv[:4]))} ...` within {timeout:g} s",
                            hint=f"the engine may hang: `{self.name} info` tells; restart it or run "
                                 "`sudo aishell-run bootstrap`", exit_code=EXIT_ENGINE_UNAVAILABLE)

    def version(self) -> str:
        return self.run("version", "--format", self.version_format).stdout.strip() or "?"

    def storage(self) -> tuple[str, str]:
        """The storage driver the engine really uses, and where it keeps its images."""
        driver, _, root = self.run("info", "--format", self.storage_format).stdout.strip().partition(" ")
        return driver, root

    def images_present(self, *images: str) -> set[str]:
        """Those of `images` (names with a tag) the engine has: from the engine's service (from_service), else one
        client call for them all (the engine answers for those it has, in no order to rely on: each answer
        carries the image's names)."""
        answered = self.from_service("image present", images)
        if answered is not None:
            return set(answered)
        run = self.run("image", "inspect", "--format", "{{json .RepoTags}}", *images)
        found: set[str] = set()
        for line in run.stdout.splitlines():
            with contextlib.suppress(ValueError, TypeError):
                found |= set(json.loads(line) or ()) & set(images)
        return found

    def inspect(self, kind: str, *names: str) -> list[dict] | None:
        """The engine's inspect documents of `names` (images, containers or networks: `kind`), in their order;
        None when one of them is missing, or the answer cannot be read."""
        found = self.from_service(kind, names)
        if found is not None:
            return [found[name] for name in names] if len(found) == len(names) else None
        run = self.run(kind, "inspect", *names)
        if run.returncode != 0:
            return None
        with contextlib.suppress(ValueError):
            documents = json.loads(run.stdout)
            if isinstance(documents, list) and len(documents) == len(names) and all(
                    isinstance(document, dict) for document in documents):
                return documents
        return None

    def from_service(self, kind: str, names: tuple[str, ...]) -> dict[str, dict] | None:
        """The inspect documents of those of `names` the engine has, by name, asked of its own service over a
        socket (the same documents its client prints, without starting the client); None where the client must
        be asked instead. A service that does not answer within ENGINE_TIMEOUT is an error (_hung)."""
        path = self.service_socket()
        if path is None:
            return None
        try:
            return unix_http.documents(path, self.service_endpoints[kind], names, ENGINE_TIMEOUT)
        except TimeoutError:
            # Named as the client's call that answers the same ("image present": an image inspect).
            raise self._hung([self.name, kind.partition(" ")[0], "inspect", *names], ENGINE_TIMEOUT) from None
        except (FileNotFoundError, ConnectionRefusedError):
            self.service_absent(path)
        except (OSError, ValueError):
            pass  # not ours to connect to (permissions), or an answer we cannot read: the client's is the one we know
        return None

    def service_socket(self) -> str | None:
        """The socket of the engine's service that from_service asks (its inspect paths: service_endpoints);
        None where only the client may be asked."""
        return None

    def service_absent(self, path: str) -> None:
        """Nothing listens at `path` (the client answers this call)."""
        return None

    def keeps_user_id(self) -> bool:
        """Whether the engine maps the user to the same IDs inside through a user namespace (rootless Podman)."""
        return False

    def limits(self) -> str:
        """How the plan's `resources` are enforced: "cgroup", or "nproc" where only the process count can be."""
        return "cgroup"

    def has_runtime(self, runtime: str) -> bool:
        """Whether the engine can run a container under the OCI runtime `runtime` (asks it: engines/runtimes.py
        keeps the answer)."""
        return False

    def runtime_refusal(self, runtime: str) -> str | None:
        """Why the engine, as it runs here, cannot run sandboxes under `runtime` whatever is registered; None
        when nothing stands in the way but the registration."""
        return None

    def runtime_config_paths(self) -> list[Path] | None:
        """The files on this machine that register the engine's runtimes, and its socket (made anew when the
        daemon restarts); None when the engine is not on this machine."""
        return None

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
        run = self.run("ps", "--all", "--format", "{{json .}}",
                       *[option for label in label_filters for option in ("--filter", f"label={label}")])
        text = run.stdout.strip()
        if text.startswith("["):  # Podman prints one JSON array
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]  # Docker: a document a line

    def remove(self, name: str) -> None:
        """Remove a container whatever its state; quiet when it is already gone."""
        self.run("rm", "--force", name)
