"""Settings + host facts -> a launch plan: everything that will run, and a hash of it.

Secret values never enter the plan's printed form or its argv: environment
variables are passed by name (`--env NAME`), their values travel only in the
environment of the engine client process.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__, profiles
from .agents import REGISTRY, sandbox_env
from .egress import ENV_NAMES as PROXY_ENV_NAMES
from .engines.base import Engine, Identity
from .git_protection import protected_paths

SAFE_DEFAULTS = {"read_only_root": False, "add_capabilities": (), "no_new_privileges": True, "seccomp": "default"}
TERMINAL_ENV = ["TERM", "COLORTERM", "LANG", "LC_ALL"]
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


@dataclass(frozen=True)
class PlannedMount:
    source: str
    target: str
    readonly: bool


@dataclass
class LaunchPlan:
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
    ports: list[str] = field(default_factory=list)
    pre_start: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    # How the engine maps the user (engines/*.py), and where our passwd/group
    # files are when the engine writes none itself.
    identity_args: list[str] = field(default_factory=list)
    home_owner: str = ""  # --tmpfs options giving the private home to the user
    limit_args: list[str] = field(default_factory=list)  # the engine's form of `resources`
    passwd_dir: str | None = None
    # Project paths the sandbox sees empty (`exclude:`, or hidden at the scan's prompt), and the
    # empty file mounted over the hidden files.
    hidden_files: list[str] = field(default_factory=list)
    hidden_dirs: list[str] = field(default_factory=list)
    empty_file: str | None = None
    # The settings' `security:` (hardening relaxations; the defaults are the safe choice).
    security: dict[str, object] = field(default_factory=lambda: dict(SAFE_DEFAULTS))
    # The variables that may hold secrets (API keys, the settings' env): engines that can
    # keep values out of `inspect` pass these that way (engines/podman.py).
    secret_names: list[str] = field(default_factory=list)
    # network.mode; in allowlist mode the internal network the sandbox sits on and the hosts it may reach.
    network: dict[str, object] = field(default_factory=lambda: {"mode": "open"})
    # Values of the variables the settings give literally; never printed.
    literal_env: dict[str, str] = field(default_factory=dict, repr=False)

    def digest(self) -> str:
        """Hash of everything that shapes the sandbox (secret values only as their own hash).

        Not the command: each session gives its own (session_argv), so `exec -- pytest` after
        `exec -- make test` finds the same launch spec and is warm."""
        public = asdict(self)
        del public["command"]
        public["literal_env"] = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in self.literal_env.items()}
        # The allowlist is handed to the proxy per session (egress.register): editing it needs no cold launch.
        public["network"] = {k: v for k, v in self.network.items() if k != "allow"}
        return hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()

    def public(self) -> dict[str, object]:
        """What `aishell-run plan --json` prints: no secret values, ever."""
        return {
            "engine": self.engine,
            "image": self.image,
            "project": self.project,
            "harness": self.harness,
            "argv": session_argv(run_options(self), self.image, command_argv(self), name="<session-name>", tty=False),
            "mounts": [asdict(m) for m in self.mounts],
            "hidden": sorted(self.hidden_files + self.hidden_dirs),
            "env": sorted(self.env_names),
            "resources": self.resources,
            "security": self.security,
            "network": self.network,
            "hash": self.digest(),
        }


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
    return f"{session_prefix(project)}{secrets.token_hex(4)}"


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
    run = subprocess.run(["git", "-C", str(project), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return None
    common = Path(run.stdout.strip())
    return None if common.is_relative_to(project) else common


def make_plan(*, engine: Engine, image: str, project: Path, harness: str, command: list[str] | None,
              settings_mounts, settings_env, resources: dict[str, object], interactive: bool,
              ports: tuple[str, ...] = (), pre_start: tuple[str, ...] = (), hidden: tuple[Path, ...] = (),
              empty_file: Path | None = None, security=None, network: dict[str, object] | None = None,
              autonomous: bool = True, environ: dict[str, str] | None = None) -> LaunchPlan:
    """Build the plan. `settings_mounts`/`settings_env`/`security` are the settings' own objects; `autonomous`
    puts the agent in its no-approval mode (agents.py)."""
    environ = dict(os.environ if environ is None else environ)
    account = pwd.getpwuid(os.getuid())
    home = Path(account.pw_dir)
    identity = Identity(uid=account.pw_uid, gid=os.getgid(), user=account.pw_name, home=str(home))
    resources = {**host_default_resources(), **{k: v for k, v in resources.items() if v is not None}}
    mounts = [PlannedMount(str(project), str(project), False)]
    common = git_common_dir(project)
    if common:
        mounts.append(PlannedMount(str(common), str(common), False))
    # Over those: what git on the host would run or obey by itself (git_protection.py).
    mounts += [PlannedMount(str(path), str(path), True) for path in protected_paths(project, common)]
    # The agent's sandbox profile, never the host's own configuration of it, and its policy (profiles.py).
    mounts += [PlannedMount(str(source), str(target), readonly)
               for source, target, readonly in profiles.mounts(harness, home, autonomous)]
    mounts += [PlannedMount(str(m.source), str(m.target), m.readonly) for m in settings_mounts]

    literal = {**git_identity_env(project), **sandbox_env(REGISTRY[harness], str(home), autonomous)}
    not_secret = {*TERMINAL_ENV, *literal, "HOME"}
    literal.update({var.name: var.value for var in settings_env if var.value is not None})
    passed = [name for name in TERMINAL_ENV + list(REGISTRY[harness].credentials) if name in environ]
    passed += [var.name for var in settings_env if var.value is None and var.name in environ]
    return LaunchPlan(
        engine=engine.name,
        image=image,
        project=str(project),
        harness=harness,
        command=command or list(REGISTRY[harness].command),
        uid=identity.uid,
        gid=identity.gid,
        user=account.pw_name,
        home=str(home),
        mounts=mounts,
        env_names=sorted({*passed, *literal, "HOME"}),
        secret_names=sorted({*passed, *literal} - not_secret),
        resources=resources,
        interactive=interactive,
        ports=list(ports),
        pre_start=list(pre_start),
        labels=project_labels(project, harness),
        identity_args=engine.identity_args(identity),
        home_owner=engine.owned_tmpfs(identity),
        limit_args=engine.limit_args(resources),
        hidden_files=[str(path) for path in hidden if not path.is_dir()],
        hidden_dirs=[str(path) for path in hidden if path.is_dir()],
        network={**network, "sysctls": engine.internal_network_sysctls()} if network else {"mode": "open"},
        empty_file=str(empty_file) if hidden or (network or {}).get("mode") == "allowlist" else None,
        security={**SAFE_DEFAULTS, **(asdict(security) if security else {})},
        literal_env=literal,
    )


def session_argv(options: list[str], image: str, command: list[str], *, name: str, tty: bool | None = None,
                 address: str | None = None) -> list[str]:
    """One session's engine command line: the plan's options (run_options) with the session's own name, a
    terminal when there is one and in allowlist mode the address its allowlist was registered for
    (egress.register); then the image and the session's command (command_argv)."""
    tty = sys.stdin.isatty() and sys.stdout.isatty() if tty is None else tty
    return [*options[:2], "--name", name, *(["--tty"] if tty else []), *(["--ip", address] if address else []),
            *options[2:], image, *command]


def network_args(plan: LaunchPlan) -> list[str]:
    mode = plan.network["mode"]
    if mode == "none":
        return ["--network", "none"]
    if mode == "open":
        return []
    # Alone on an internal network with no route out: the proxy (egress.py) is the only way out. No IPv6,
    # and no resolver (an empty resolv.conf): DNS cannot carry data out.
    args = ["--network", str(plan.network["name"]), "--volume", f"{plan.empty_file}:/etc/resolv.conf:ro"]
    for sysctl in ["net.ipv6.conf.all.disable_ipv6=1", *plan.network["sysctls"]]:
        args += ["--sysctl", sysctl]
    for name in PROXY_ENV_NAMES:
        args += ["--env", name]
    return args


def run_options(plan: LaunchPlan) -> list[str]:
    """`ENGINE run` and its options, shared by every session of `plan` (see session_argv)."""
    argv = [plan.engine, "run", "--rm", "--interactive", "--init", "--hostname", "aishell"]
    for key, value in sorted(plan.labels.items()):
        argv += ["--label", f"{key}={value}"]
    argv += plan.identity_args
    security = plan.security
    argv += ["--cap-drop", "ALL", *[f"--cap-add={cap}" for cap in security["add_capabilities"]]]
    if security["no_new_privileges"]:
        argv += ["--security-opt", "no-new-privileges"]
    if security["seccomp"] == "unconfined":
        argv += ["--security-opt", "seccomp=unconfined"]
    if security["read_only_root"]:
        argv += ["--read-only", "--tmpfs", "/tmp:rw,exec,mode=1777", "--tmpfs", "/var/tmp:rw,exec,mode=1777"]
    argv += plan.limit_args
    argv += network_args(plan)
    # A private, writable home owned by the user; the agent's profile is mounted into it.
    argv += ["--tmpfs", f"{plan.home}:rw,exec,{plan.home_owner},mode=0700"]
    if plan.passwd_dir:
        argv += ["--volume", f"{plan.passwd_dir}/passwd:/etc/passwd:ro",
                 "--volume", f"{plan.passwd_dir}/group:/etc/group:ro"]
    for mount in plan.mounts:
        argv += ["--volume", f"{mount.source}:{mount.target}{':ro' if mount.readonly else ''}"]
    # Over the project mount (engines mount shallower targets first): the agent sees these empty.
    for path in plan.hidden_files:
        argv += ["--volume", f"{plan.empty_file}:{path}:ro"]
    for path in plan.hidden_dirs:
        argv += ["--tmpfs", f"{path}:ro"]
    for env_name in plan.env_names:
        argv += ["--env", env_name]
    for port in plan.ports:
        argv += ["--publish", port]
    return [*argv, "--workdir", plan.project]


def command_argv(plan: LaunchPlan) -> list[str]:
    """What runs in one session of `plan`: its command, after the settings' pre_start and, for an
    interactive session, inside the tmux wrapper (IN_SESSION)."""
    command = plan.command
    if plan.pre_start:
        # The settings' pre_start commands run first, in the sandbox; then the
        # command replaces the shell, so its exit status is the session's.
        command = ["sh", "-c", " && ".join([*plan.pre_start, 'exec "$@"']), "pre_start", *command]
    if plan.interactive:
        # The session (and the container) ends when the agent exits, with its status (IN_SESSION).
        return ["sh", "-c", IN_SESSION, "aishell-session", *command]
    return command
