"""Settings + host facts -> a launch plan: structured data of everything that will run, and a hash of it.

The sandbox_launch role renders the engine options from it (roles/sandbox_launch/filter_plugins/
launch_spec.py); each session adds its own parts (session.py). Secret values never enter the plan's
printed form or any command line: environment variables are named, their values travel only in the
environment of the engine client process.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

from . import __version__, profiles
from .agents import REGISTRY, sandbox_env
from .background import in_background
from .egress import ENV_NAMES as PROXY_ENV_NAMES
from .engines.base import Engine, env_options
from .git_protection import protected_paths
from .paths import role_plugin
from .project import GIT_LOCATION_VARIABLES, no_git_above
from .session import session_argv, session_command

TERMINAL_ENV = ["TERM", "COLORTERM", "LANG", "LC_ALL"]


def _default_security():
    """The settings' security defaults, for a plan made without settings (the builder: imported only then)."""
    from .settings.build import security_settings

    return security_settings()


class PlannedMount(NamedTuple):
    """A host path mounted into the sandbox."""

    source: str
    target: str
    readonly: bool


class LaunchPlan(NamedTuple):
    """What a launch runs, as structured data; its hash decides whether the launch is warm."""

    engine: str
    image: str
    project: str
    harness: str
    command: list[str]
    uid: int
    gid: int
    user: str
    home: str
    mounts: list[PlannedMount]
    env_names: list[str]
    resources: dict[str, object]
    interactive: bool
    ports: list[str]
    pre_start: list[str]
    labels: dict[str, str]
    # Project paths the sandbox sees empty (`exclude:`, or hidden at the scan's prompt).
    hidden_files: list[str]
    hidden_dirs: list[str]
    # The settings' `security:` (hardening relaxations; the defaults are the safe choice).
    security: dict[str, object]
    # The variables that may hold secrets (API keys, the settings' env): engines that can
    # keep values out of `inspect` pass these that way (engines/podman.py).
    secret_names: list[str]
    # network.mode; in allowlist mode the gate's directory the sandbox mounts and the hosts it may reach.
    network: dict[str, object]
    # Values of the variables the settings give literally; never printed (not in the repr either).
    literal_env: dict[str, str]
    empty_file: str | None = None  # the empty file mounted over the hidden files
    # Rootless Podman maps the user through its user namespace (keep-id) and writes the user's passwd
    # entry; otherwise our passwd/group files in passwd_dir name the user.
    keep_id: bool = False
    passwd_dir: str | None = None
    # How the engine enforces `resources`: "cgroup" limits, or only the process count as an rlimit
    # ("nproc": rootless Podman on cgroup v1, engines/podman.py).
    limits: str = "cgroup"

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._asdict().items() if name != "literal_env")
        return f"LaunchPlan({shown})"

    def role_input(self) -> dict[str, object]:
        """What the sandbox_launch role renders the launch spec from: the plan without secret values, without
        the command (each session gives its own: session.py) and without the allowlist (handed to the proxy
        per session, egress.register, so editing it needs no cold launch)."""
        data = {name: value for name, value in self._asdict().items() if name not in ("command", "literal_env")}
        data["mounts"] = [m._asdict() for m in self.mounts]
        data["network"] = {k: v for k, v in self.network.items() if k != "allow"}
        return data

    def digest(self) -> str:
        """Hash of everything that shapes the sandbox (secret values only as their own hash).

        Not the command, so `exec -- pytest` after `exec -- make test` finds the same launch spec: warm."""
        hashed = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in self.literal_env.items()}
        return hashlib.sha256(json.dumps({**self.role_input(), "literal_env": hashed}, sort_keys=True).encode()
                              ).hexdigest()

    def public(self) -> dict[str, object]:
        """What `aishell-run plan --json` prints: no secret values, ever."""
        return {
            "engine": self.engine,
            "image": self.image,
            "project": self.project,
            "harness": self.harness,
            "argv": session_argv(self.engine, launch_options(self.role_input()), env_options(self.env_names),
                                 self.image, session_command(self), name="<session-name>", tty=False),
            "mounts": [m._asdict() for m in self.mounts],
            "hidden": sorted(self.hidden_files + self.hidden_dirs),
            "env": sorted(self.env_names),
            "resources": self.resources,
            "security": self.security,
            "network": self.network,
            "hash": self.digest(),
        }


def launch_options(role_input: dict[str, object]) -> list[str]:
    """The engine options the sandbox_launch role renders for a plan (its filter plugin, loaded here only to
    print them: a launch reads them from the spec the role wrote)."""
    return role_plugin("sandbox_launch", "launch_spec.py").launch_options(role_input)


def host_default_resources() -> dict[str, object]:
    """Limits when the settings give none: all CPUs but one, half the memory, 4096 processes.

    Enough for an agent, its tools and a test suite; not enough to starve the host.
    """
    cpus = max(1, (os.cpu_count() or 2) - 1)
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (2 * 1024 * 1024)
    return {"cpus": cpus, "memory": f"{max(memory_mb, 512)}m", "pids": 4096}


def session_prefix(project: Path) -> str:
    """What the names of a project's sessions start with."""
    slug = re.sub(r"[^a-z0-9]+", "-", project.name.lower()).strip("-")[:24] or "project"
    return f"aishell-{slug}-"


def session_name(project: Path) -> str:
    """Unique per project and session, so several sessions can share a project."""
    return f"{session_prefix(project)}{os.urandom(4).hex()}"  # secrets.token_hex's bytes, without its imports


def project_labels(project: Path, harness: str) -> dict[str, str]:
    return {
        "org.aishell.role": "sandbox",
        "org.aishell.project": str(project),
        "org.aishell.project-hash": hashlib.sha256(str(project).encode()).hexdigest()[:16],
        "org.aishell.harness": harness,
        "org.aishell.version": __version__,
    }


def git_identity_env(project: Path) -> dict[str, str]:
    """The host's git identity for commits made inside (one git call)."""
    run = subprocess.run(["git", "-C", str(project), "config", "--get-regexp", r"^user\.(name|email)$"],
                         capture_output=True, text=True)
    found = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    values = {}
    for key, names in (("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
                       ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"))):
        if found.get(key, "").strip():
            values.update(dict.fromkeys(names, found[key].strip()))
    return values


def git_common_dir(project: Path) -> Path | None:
    """For a git worktree, the shared .git directory that lives outside the project."""
    if not GIT_LOCATION_VARIABLES & os.environ.keys() and (
            ((project / ".git").is_dir() and not (project / ".git" / "commondir").exists()) or no_git_above(project)):
        return None  # a repository's own .git as git would find it, or no repository: no git process to ask
    run = subprocess.run(["git", "-C", str(project), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return None
    common = Path(run.stdout.strip())
    return None if common.is_relative_to(project) else common


class GitFacts(NamedTuple):
    """What git on the host says of a project: the shared git directory of a worktree, what git on the host runs
    or obeys by itself (git_protection.py), and the user's identity for commits made inside."""

    common: Path | None
    protected: list[Path]
    identity: dict[str, str]


def git_facts(project: Path) -> GitFacts:
    """GitFacts of `project`; a launch asks for them beside its scan (each is a git process to wait for)."""
    identity = in_background(git_identity_env, project)
    common = git_common_dir(project)
    return GitFacts(common, protected_paths(project, common), identity())


def make_plan(*, engine: Engine, image: str, project: Path, harness: str, command: list[str] | None,
              settings_mounts, settings_env, resources: dict[str, object], interactive: bool,
              ports: tuple[str, ...] = (), pre_start: tuple[str, ...] = (), hidden: tuple[Path, ...] = (),
              empty_file: Path | None = None, security=None, network: dict[str, object] | None = None,
              autonomous: bool = True, environ: dict[str, str] | None = None,
              credential_names: tuple[str, ...] = (), git: GitFacts | None = None) -> LaunchPlan:
    """Build the plan. `settings_mounts`/`settings_env`/`security` are the settings' own objects; `autonomous`
    puts the agent in its no-approval mode (agents.py); `credential_names` are the variables the settings
    declare as credentials (passed in when the host has them, as placeholders behind the broker); `git` is
    git_facts(project), asked for here when not given."""
    environ = dict(os.environ if environ is None else environ)
    account = pwd.getpwuid(os.getuid())
    home = Path(account.pw_dir)
    resources = {**host_default_resources(), **{k: v for k, v in resources.items() if v is not None}}
    git = git or git_facts(project)
    mounts = [PlannedMount(str(project), str(project), False)]
    if git.common:
        mounts.append(PlannedMount(str(git.common), str(git.common), False))
    # Over those: what git on the host would run or obey by itself (git_protection.py).
    mounts += [PlannedMount(str(path), str(path), True) for path in git.protected]
    # The agent's sandbox profile, never the host's own configuration of it, and its policy (profiles.py).
    mounts += [PlannedMount(str(source), str(target), readonly)
               for source, target, readonly in profiles.mounts(harness, home, autonomous, project)]
    mounts += [PlannedMount(str(m.source), str(m.target), m.readonly) for m in settings_mounts]

    literal = {**git.identity, **sandbox_env(REGISTRY[harness], str(home), autonomous)}
    not_secret = {*TERMINAL_ENV, *literal, "HOME"}
    literal.update({var.name: var.value for var in settings_env if var.value is not None})
    passed = [name for name in TERMINAL_ENV + list(REGISTRY[harness].credentials) if name in environ]
    passed += [var.name for var in settings_env if var.value is None and var.name in environ]
    passed += [name for name in credential_names if name in environ and name not in passed]
    allowlist = (network or {}).get("mode") == "allowlist"
    # In allowlist mode the proxy's address and the gate's token: their values are the session's (egress.proxy_env).
    proxy = list(PROXY_ENV_NAMES) if allowlist else []
    return LaunchPlan(
        engine=engine.name,
        image=image,
        project=str(project),
        harness=harness,
        command=command or list(REGISTRY[harness].command),
        uid=account.pw_uid,
        gid=os.getgid(),
        user=account.pw_name,
        home=str(home),
        mounts=mounts,
        env_names=sorted({*passed, *literal, *proxy, "HOME"}),
        secret_names=sorted({*passed, *literal} - not_secret),
        resources=resources,
        interactive=interactive,
        ports=list(ports),
        pre_start=list(pre_start),
        labels=project_labels(project, harness),
        keep_id=engine.keeps_user_id(),
        limits=engine.limits(),
        hidden_files=[str(path) for path in hidden if not path.is_dir()],
        hidden_dirs=[str(path) for path in hidden if path.is_dir()],
        network=network or {"mode": "open"},
        empty_file=str(empty_file) if hidden or allowlist else None,
        security=(security or _default_security())._asdict(),
        literal_env=literal,
    )
