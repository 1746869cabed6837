"""Value checks, written once: each value's pattern (which schema.py publishes), its check, and the one table
saying which keys each check is for (the merged settings are checked by it; the schema's errors worded by it)."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aishell_runner.settings.model import _show

# Each value's form, written once: the schema publishes these patterns (for editors), the checks below
# test them with `fullmatch`, because jsonschema's `re.search` lets "$" match before a trailing newline.
# An empty version leaves that agent out of the image.
VERSION_PATTERN = r"^([A-Za-z0-9._+~^-]+)?$"
MEMORY_PATTERN = r"^[0-9]+[kmgKMG]?$"
CAPABILITY_PATTERN = r"^[A-Z][A-Z_]*$"
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$"
_IPV4 = r"([0-9]{1,3}\.){3}[0-9]{1,3}"
IPV4_PATTERN = rf"^{_IPV4}$"
SUBNET_PATTERN = rf"^{_IPV4}/(1[6-9]|2[0-8])$"
PORT_PATTERN = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}:)?[0-9]{1,5}:[0-9]{1,5}$"
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
ENV_PATTERN = rf"^{_ENV_NAME}(=[\s\S]*)?$"
ENV_NAME_RE = re.compile(_ENV_NAME)
ENV_NAME_PATTERN = rf"^{_ENV_NAME}$"
# An HTTP header name: RFC 9110's token characters.
HEADER_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
# A header value written around the credential: {value} exactly once, no control characters (a line break
# would start a header of its own).
_NOT_VALUE = r"(?:(?!\{value\})[^\x00-\x1f\x7f])*"
FORMAT_PATTERN = rf"^{_NOT_VALUE}\{{value\}}{_NOT_VALUE}$"
# An API's base URL: http or https, a host name, an IPv4 or a bracketed IPv6 address, an optional port and
# path prefix; no user:password, query or fragment (the checks below say which part is wrong).
_URL_PATH = r"(/([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?"
UPSTREAM_PATTERN = rf"^https?://({_LABEL}(\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(:[0-9]{{1,5}})?{_URL_PATH}$"

# Characters a shell (or the playbook's command lines) would treat specially. Spaces stay allowed: paths
# like "~/My Projects" are common and are always passed as single arguments.
SHELL_METACHARACTERS = frozenset(";&|`$()<>\\\"'*?!{}")


# --------------------------------------------------------------------------------------------------- value checks
# Each returns (problem, hint) or None; the schema's pattern errors reuse them so both paths read the same.


def _version_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(VERSION_PATTERN[1:-1], value):
        return None
    return (f"{_show(value)} is not a version", 'use letters, digits and . _ + ~ ^ - only, e.g. "1.2.3" or "latest"')


def _memory_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(MEMORY_PATTERN[1:-1], value) and int(value.rstrip("kmgKMG")) > 0:
        return None
    return f"{_show(value)} is not a memory size", "use a number with an optional k, m or g suffix, e.g. 512m or 2g"


def _port_problem(value: Any) -> tuple[str, str] | None:
    hint = 'use "HOST:CONTAINER" or "IP:HOST:CONTAINER", e.g. "8080:80" or "127.0.0.1:8080:80"'
    if isinstance(value, str) and re.fullmatch(PORT_PATTERN[1:-1] + "/(tcp|udp)", value):
        return f"{_show(value)}: a protocol suffix is not supported here (ports are TCP)", \
            f'remove it: "{value.rsplit("/", 1)[0]}"'
    if not isinstance(value, str) or not re.fullmatch(PORT_PATTERN[1:-1], value):
        return f"{_show(value)} is not a port mapping", hint
    *address, host, container = value.split(":")
    if address and any(int(octet) > 255 for octet in address[0].split(".")):
        return f"{_show(address[0])} is not an IPv4 address", hint
    for port in (host, container):
        if not 1 <= int(port) <= 65535:
            return f"port {int(port)} is out of range (1-65535)", hint
    return None


def _env_name_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and ENV_NAME_RE.fullmatch(value):
        return None
    return (f"{_show(value)} is not a valid environment variable name",
            "names use letters, digits and _ and do not start with a digit, e.g. GITHUB_TOKEN")


def _env_problem(value: Any) -> tuple[str, str] | None:
    problem = _env_name_problem(value.partition("=")[0] if isinstance(value, str) else value)
    if problem is None:
        return None
    return (problem[0], "names use letters, digits and _ and do not start with a digit: API_URL=https://example.com, "
                        "or API_TOKEN alone to pass the host's value")


def _host_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(HOST_PATTERN[1:-1], value):
        return None
    return (f"{_show(value)} is not a host name",
            "write a name such as api.example.com, or *.example.com for its subdomains (no scheme, port or path)")


def _header_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(HEADER_PATTERN[1:-1], value):
        return None
    return (f"{_show(value)} is not an HTTP header name",
            "write the name alone, letters, digits and - (no colon or spaces), e.g. Authorization or x-api-key")


def _format_problem(value: Any) -> tuple[str, str] | None:
    hint = 'write the header\'s value with {value} where the credential goes, e.g. "Bearer {value}" or "token {value}"'
    if not isinstance(value, str):
        return f"{_show(value)} is not a header value", hint
    count = value.count("{value}")
    if count != 1:
        return f"{_show(value)} must contain {{value}} exactly once, not {count} times", hint
    bad = next((char for char in value if ord(char) < 0x20 or ord(char) == 0x7F), None)
    if bad is not None:
        return f"{_show(value)} contains the control character {bad!r}", hint
    return None


def _upstream_problem(value: Any) -> tuple[str, str] | None:
    """An API's base URL: http(s)://host[:port][/path], nothing else."""
    hint = "write http(s)://HOST[:PORT][/PATH], e.g. https://llm-gateway.example.com/anthropic or http://127.0.0.1:4000"
    if not isinstance(value, str):
        return f"{_show(value)} is not a URL", hint
    bad = next((char for char in value if ord(char) <= 0x20 or ord(char) == 0x7F), None)
    if bad is not None:
        return f"{_show(value)} contains {'a space' if bad == ' ' else f'the control character {bad!r}'}", hint
    scheme, sep, _ = value.partition("://")
    if not sep or scheme not in ("http", "https"):
        return f"{_show(value)} is not an http:// or https:// URL", hint
    form = f"{_show(value)} is not a URL of the form http(s)://HOST[:PORT][/PATH]"
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        return form, hint
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return f"{_show(value)}: the port is not a number from 1 to 65535", hint
    if "@" in parts.netloc:
        return (f"{_show(value)} contains a user name or password",
                "leave them out (the broker puts the real credential in); " + hint)
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return f"{_show(value)} has a query or fragment (? or #)", "give only a path prefix; " + hint
    if not re.fullmatch(UPSTREAM_PATTERN[1:-1], value):
        return form, hint
    host = parts.hostname or ""
    if ":" in host:  # a bracketed IPv6 address
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{_show(host)} is not an IPv6 address", hint
    return None


def _address_problem(value: Any) -> tuple[str, str] | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return f"{_show(value)} is not an IPv4 address", "for example 10.1.2.3"
    return None


def _subnet_problem(value: Any) -> tuple[str, str] | None:
    try:
        subnet = ipaddress.IPv4Network(value)
    except ValueError:
        subnet = None
    if subnet is not None and subnet.is_private and 16 <= subnet.prefixlen <= 28:
        return None
    return (f"{_show(value)} is not a private IPv4 subnet from /16 to /28",
            "for example 10.213.7.0/24, with host bits zero")


def _inside_project_problem(value: Any) -> tuple[str, str] | None:
    parts = str(value).replace("\\", "/").split("/")
    if ".." in parts or str(value).startswith("~"):
        return (f"{_show(value)} leaves the project",
                "exclude and scan patterns are paths inside the project, e.g. .env, secrets/ or config/*.key")
    return None



Check = Callable[[Any], tuple[str, str] | None]

# Which keys each check is for, written once: the merged settings are checked against this table before they
# are built (value_problems), and the schema's pattern errors are worded by it (check_for). "*" is any list
# index or map key.
VALUE_CHECKS: dict[tuple[str, ...], Check] = {
    ("agents", "*", "version"): _version_problem,
    ("env", "*"): _env_problem,
    ("ports", "*"): _port_problem,
    ("resources", "memory"): _memory_problem,
    ("exclude", "*"): _inside_project_problem,
    ("worktree", "include", "*"): _inside_project_problem,
    ("network", "allow", "*"): _host_problem,
    ("agents", "*", "upstream"): _upstream_problem,
    ("credentials", "*", "variable"): _env_name_problem,
    ("credentials", "*", "hosts", "*"): _host_problem,
    ("credentials", "*", "header"): _header_problem,
    ("credentials", "*", "format"): _format_problem,
    ("network", "internal_hosts", "*"): _address_problem,
    ("network", "subnet"): _subnet_problem,
    ("scan", "rules", "*", "patterns", "*"): _inside_project_problem,
}


def check_for(path: tuple) -> Check | None:
    """The check for the value at `path`, if the table has one."""
    for pattern, check in VALUE_CHECKS.items():
        if len(pattern) == len(path) and all(step in ("*", key) for step, key in zip(pattern, path, strict=True)):
            return check
    return None


def value_problems(data: Any) -> Iterator[tuple[tuple, str, str]]:
    """Every (path, problem, hint) the table finds in `data`, in the table's order."""
    for pattern, check in VALUE_CHECKS.items():
        for path, value in _values_at(data, pattern, ()):
            problem = check(value)
            if problem:
                yield (path, *problem)


def _values_at(data: Any, pattern: tuple[str, ...], path: tuple) -> Iterator[tuple[tuple, Any]]:
    if not pattern:
        yield path, data
        return
    step, rest = pattern[0], pattern[1:]
    if isinstance(data, Mapping):
        keys = list(data) if step == "*" else [step] if step in data else []
    elif isinstance(data, list | tuple) and step == "*":
        keys = range(len(data))
    else:
        keys = []
    for key in keys:
        yield from _values_at(data[key], rest, (*path, key))


def _unsafe_character(text: str) -> str | None:
    """Describe the first shell metacharacter or control character in `text`, or None."""
    for char in text:
        if char in SHELL_METACHARACTERS:
            return f"the shell metacharacter {char!r}"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"the control character {char!r}"
    return None


