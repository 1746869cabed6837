"""Each agent's sandbox profile: the configuration a sandbox's agent reads and writes instead of the host's.

The host's `~/.claude`, `~/.codex`, ... are never mounted: a hook, an MCP server or a command planted
there from inside would run the next time the user starts that agent on the host. Instead each agent
has a profile directory, `$XDG_DATA_HOME/aishell/profiles/<agent>/`, holding the directories the agent
writes (agents.py: `profile`); it is mounted read-write at those paths, so history, memory and session
state persist across sessions, and the host's agent never reads it. Its state file gets what skips the
first-run screens (agents.py: `first_run`).

What the agent legitimately reads from the host (`from_host`: instructions, settings, commands,
skills) is copied into the profile at each launch, without the settings that hold or fetch a
credential. Those copies belong to the host: a change made to them inside lasts until the next launch.

A sandbox could leave symbolic links in its profile, aimed at the host's files: nothing here follows a
link inside a profile, and a profile path that is not what it should be stops the launch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from .agents import REGISTRY, Agent
from .errors import AishellError
from .paths import data_dir, state_dir


def profile_dir(agent: str) -> Path:
    return data_dir() / "profiles" / agent


def fixed_files(agent: str, autonomous: bool, project: Path) -> dict[str, str]:
    """What is mounted read-only at absolute paths, by target: the agent's system settings and, when
    autonomous, its policy (agents.py), with "{project}" in them the project's path as a quoted string."""
    spec = REGISTRY[agent]
    files = {**spec.system_files, **(spec.autonomy_files if autonomous else {})}
    return {target: content.replace("{project}", json.dumps(str(project))) for target, content in files.items()}


def policy_file(agent: str, target: str, content: str) -> Path:
    """Where the host keeps `content`, mounted read-only at `target`: named by its digest too, so launches in
    different projects never rewrite a file that another sandbox is about to mount."""
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    return state_dir() / "agent-policy" / agent / f"{target.strip('/').replace('/', '_')}.{digest}"


def mounts(agent: str, home: Path, autonomous: bool, project: Path) -> list[tuple[Path, Path, bool]]:
    """(source, target, read-only) for the agent's profile directories, its system settings and, when
    autonomous, its policy."""
    spec = REGISTRY[agent]
    found = [(profile_dir(agent) / relative, home / relative, False) for relative in spec.profile]
    found += [(policy_file(agent, target, content), Path(target), True)
              for target, content in fixed_files(agent, autonomous, project).items()]
    return found


def prepare(agent: str, host_home: Path, *, autonomous: bool, project: Path, environ: Mapping[str, str]) -> None:
    """Make the profile ready to mount: its directories present and sound, the host's copies current, the
    first-run screens answered; and the agent's system settings and policy files written."""
    spec = REGISTRY[agent]
    if not spec.profile:
        return
    profile = profile_dir(agent)
    try:
        profile.mkdir(parents=True, exist_ok=True, mode=0o700)
        for relative in spec.profile:
            _sound(profile / relative)
        for target, content in fixed_files(agent, autonomous, project).items():
            _write_if_changed(policy_file(agent, target, content), content.encode(), 0o644)
    except OSError as error:
        raise AishellError(f"the {spec.title} sandbox profile {profile} cannot be used: {error.strerror}",
                           hint=f"make it yours and writable (chmod -R u+rwX {profile}), or move it away to "
                                "start a new one") from None
    for relative in spec.from_host:
        source = host_home / relative
        try:
            _refresh(source, profile / relative, spec)
        except OSError as error:
            where = error.filename or source
            raise AishellError(f"cannot copy {where} into the {spec.title} sandbox profile: {error.strerror}",
                               hint=f"make it readable (chmod u+r {where}) or move it away; the sandbox copies "
                                    "it from the host at each launch") from None
    if spec.first_run:
        _answer_first_run(spec, profile / spec.state_file, environ)


def _damaged(path: Path, what: str) -> AishellError:
    return AishellError(f"the sandbox profile's {path} {what}",
                        hint=f"move it away (mv {path} {path}.damaged): the next launch makes it anew; a "
                             "sandbox may have changed it, so look at it before you use it")


def _sound(path: Path) -> None:
    """`path` is a directory of ours, made when missing; a link or anything else is a damaged profile."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        path.mkdir(parents=True, mode=0o700)
        return
    if not stat.S_ISDIR(mode):
        raise _damaged(path, "is a symbolic link" if stat.S_ISLNK(mode) else "is not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise AishellError(f"the sandbox profile's {path} is not readable and writable by you",
                           hint=f"chmod u+rwx {path}")


def _answer_first_run(agent: Agent, path: Path, environ: Mapping[str, str]) -> None:
    """The agent's state file with its first-run screens answered (written only when that changes it)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise _damaged(path, "is a symbolic link" if stat.S_ISLNK(mode) else "is not a file")
    text = path.read_bytes() if mode is not None else b"{}"
    try:
        state = json.loads(text or b"{}")
    except ValueError:
        state = None
    if not isinstance(state, dict):
        raise _damaged(path, f"is not the JSON object {agent.title} keeps its state in")
    answered = agent.first_run(dict(state), environ)
    if answered != state or mode is None:
        _write(path, (json.dumps(answered, indent=2) + "\n").encode(), 0o600)


def _write_if_changed(path: Path, content: bytes, mode: int) -> None:
    if _is(path, stat.S_ISREG) and path.read_bytes() == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(path, content, mode)


def _refresh(source: Path, target: Path, agent: Agent) -> None:
    """Make `target` (in the profile) a copy of the host's `source`, or absent when the host has none.

    Links on the host's side are followed (they are the user's own dotfiles); in the profile never."""
    try:
        wanted = source.stat()
    except FileNotFoundError:  # not on the host (or a dangling link there): the profile has none either
        wanted = None
    if wanted is None or not (stat.S_ISDIR(wanted.st_mode) or stat.S_ISREG(wanted.st_mode)):
        _remove(target)  # a socket or a pipe is nothing to copy
        return
    if stat.S_ISDIR(wanted.st_mode):
        if not _is(target, stat.S_ISDIR):
            _remove(target)
            target.mkdir(mode=0o700)
        names = {child.name for child in source.iterdir()}
        for child in target.iterdir():
            if child.name not in names:
                _remove(child)
        for name in names:
            _refresh(source / name, target / name, agent)
        return
    if _is(target, stat.S_ISREG) and target.lstat().st_mtime_ns == wanted.st_mtime_ns:
        return  # copied at an earlier launch and not changed since, on either side
    content = source.read_bytes()
    if source.suffix == ".json":
        content = _without_secrets(content, agent)
    if _is(target, stat.S_ISDIR):
        _remove(target)  # a rename replaces a file or a link in place, not a directory
    _write(target, content, (stat.S_IMODE(wanted.st_mode) & 0o700) | 0o600, mtime_ns=wanted.st_mtime_ns)


def _without_secrets(content: bytes, agent: Agent) -> bytes:
    """A JSON settings file without what holds or fetches a credential (an unparsable one is copied as is:
    the agent reports it inside as it would on the host)."""
    try:
        settings = json.loads(content)
    except ValueError:
        return content
    if not isinstance(settings, dict):
        return content
    for key in agent.secret_settings:
        settings.pop(key, None)
    if isinstance(settings.get("env"), dict):
        for name in agent.credentials:
            settings["env"].pop(name, None)
    return (json.dumps(settings, indent=2) + "\n").encode()


def _is(path: Path, is_kind) -> bool:
    try:
        return is_kind(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    """Remove `path` itself: a link is unlinked, never followed."""
    try:
        if stat.S_ISDIR(path.lstat().st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def _write(path: Path, content: bytes, mode: int, mtime_ns: int | None = None) -> None:
    """Write through a new file renamed into place: a concurrent launch sees the old or the new copy."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    _remove(partial)  # left by an interrupted launch
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    if mtime_ns is not None:
        os.utime(partial, ns=(mtime_ns, mtime_ns))
    os.replace(partial, path)
