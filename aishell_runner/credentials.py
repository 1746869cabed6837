"""The credential broker's side in aishell-run: placeholders in, real values kept on the host.

In allowlist mode a sandbox never gets a credential's value. It gets a placeholder of the same length
(random, worthless anywhere else), and the session's entry in the broker's directory pairs the two with the
hosts the value may go to. On the way out the broker (mitmproxy beside the egress proxy,
roles/sandbox_image/files/egress/broker.py) puts the value in, only for those hosts, and sends the agent's
requests to its upstream when the settings give one. The entry is removed when the session ends.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from .agents import REGISTRY
from .cache_files import new_draft
from .settings.model import Credential

# The agents' own credentials and the provider hosts each is for (each vendor's API documentation).
BUILTIN = {credential.variable: credential for credential in (
    Credential("ANTHROPIC_API_KEY", ("api.anthropic.com",), None, None),
    Credential("ANTHROPIC_AUTH_TOKEN", ("api.anthropic.com",), None, None),
    Credential("CLAUDE_CODE_OAUTH_TOKEN", ("api.anthropic.com",), None, None),
    Credential("OPENAI_API_KEY", ("api.openai.com",), None, None),
    Credential("GEMINI_API_KEY", ("generativelanguage.googleapis.com",), None, None),
    Credential("GOOGLE_API_KEY", ("generativelanguage.googleapis.com",), None, None),
    Credential("OPENROUTER_API_KEY", ("openrouter.ai",), None, None),
)}
# A value's leading form, kept in its placeholder so that a client checking the form still starts
# ("sk-ant-api03-", "sk-proj-", "AIza", "ghp_", ...): it says which kind of key, not which key.
_FORM = re.compile(r"^(?:[A-Za-z]{2,6}[-_](?:[a-z]{2,6}[0-9]{0,2}[-_]){0,2}|AIza)")
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def missing(agent: str, variables: tuple[str, ...], passed: Iterable[str], profile: Path) -> str | None:
    """Why `agent` cannot sign in (none of its `variables` among the `passed` ones and no login of its own in
    its profile), or None."""
    login = REGISTRY[agent].login_file
    if not login or set(variables) & set(passed) or (profile / login).exists():
        return None
    return f"none of {', '.join(variables)} is set here, and its sandbox profile holds no login of its own"


def upstream_problem(url: str, timeout: float = 2.0) -> str | None:
    """Why the upstream at `url` cannot be reached from here (a TCP connection to its host and port), or None:
    a gateway that is down is named before the agent meets it as a failing first request."""
    target = urlsplit(url)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=timeout).close()
    except OSError as error:
        return f"{target.hostname}:{port} does not answer ({error.strerror or error})"
    return None


def brokered(declared: Iterable[Credential]) -> dict[str, Credential]:
    """Every credential the broker knows: the agents' own, then the settings' (a declared one replaces an
    agent's of the same variable)."""
    return {**BUILTIN, **{credential.variable: credential for credential in declared}}


def placeholder(value: str) -> str:
    """A random stand-in of the value's length (so that what comes back, scrubbed, keeps its length) that keeps
    its leading form when enough is left to be random."""
    form = _FORM.match(value)
    kept = form.group(0) if form and len(value) - form.end() >= 16 else ""
    import secrets  # here: only a launch with credentials to swap draws placeholders

    return kept + "".join(secrets.choice(_ALPHABET) for _ in range(len(value) - len(kept)))


class Swap(NamedTuple):
    """A credential of one session: its real value, and the placeholder the sandbox holds instead."""

    credential: Credential
    value: str
    placeholder: str


def session_file(directory: Path, session: str) -> Path:
    return directory / "sessions" / f"{session}.json"


def open_session(directory: Path, session: str, wanted: Mapping[str, Credential], environ: Mapping[str, str],
                 upstream: str | None) -> list[Swap]:
    """Write `session`'s entry for the credentials of `wanted` that `environ` has; returns the swaps (the
    sandbox gets each placeholder instead of the value). The agent's upstream takes the requests to the
    hosts of its credentials."""
    swaps = [Swap(credential, environ[name], placeholder(environ[name]))
             for name, credential in wanted.items() if environ.get(name)]
    if not swaps:
        return []
    entry = {
        "session": session,
        "upstreams": {host: upstream for swap in swaps for host in swap.credential.hosts} if upstream else {},
        "credentials": [{"variable": s.credential.variable, "placeholder": s.placeholder, "value": s.value,
                         "hosts": list(s.credential.hosts), "header": s.credential.header,
                         "format": s.credential.format} for s in swaps],
    }
    sessions = directory / "sessions"
    sessions.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written whole, then renamed into place: the broker never reads half an entry.
    with new_draft(sessions) as draft:
        json.dump(entry, draft)
    os.replace(draft.name, session_file(directory, session))
    return swaps


def close_session(directory: Path, session: str) -> None:
    session_file(directory, session).unlink(missing_ok=True)


def forget_gone(directory: Path, live_sessions: set[str]) -> list[str]:
    """Remove the entries of sessions whose sandbox is gone (a killed wrapper's); returns them."""
    sessions = directory / "sessions"
    gone = [path.stem for path in sessions.glob("*.json") if path.stem not in live_sessions] \
        if sessions.is_dir() else []
    for session in gone:
        close_session(directory, session)
    return gone
