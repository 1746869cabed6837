"""Value checks, written once: each value's pattern (which schema.py publishes) and its check, which words the
schema's pattern errors (explain.py) and checks what a pattern cannot say (build.py)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
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


def _env_problem(value: Any) -> tuple[str, str] | None:
    name = value.partition("=")[0] if isinstance(value, str) else value
    if isinstance(name, str) and ENV_NAME_RE.fullmatch(name):
        return None
    return (
        f"{_show(name)} is not a valid environment variable name",
        "names use letters, digits and _ and do not start with a digit: API_URL=https://example.com, or API_TOKEN "
        "alone to pass the host's value",
    )


def _host_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(HOST_PATTERN[1:-1], value):
        return None
    return (f"{_show(value)} is not a host name",
            "write a name such as api.example.com, or *.example.com for its subdomains (no scheme, port or path)")


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


_VALUE_CHECKS: dict[str, Callable[[Any], tuple[str, str] | None]] = {
    "allow": _host_problem,
    "subnet": _subnet_problem,
    "version": _version_problem,
    "memory": _memory_problem,
    "ports": _port_problem,
    "env": _env_problem,
}


def _inside_project_problem(value: Any) -> tuple[str, str] | None:
    parts = str(value).replace("\\", "/").split("/")
    if ".." in parts or str(value).startswith("~"):
        return (f"{_show(value)} leaves the project",
                "exclude and scan patterns are paths inside the project, e.g. .env, secrets/ or config/*.key")
    return None


def _unsafe_character(text: str) -> str | None:
    """Describe the first shell metacharacter or control character in `text`, or None."""
    for char in text:
        if char in SHELL_METACHARACTERS:
            return f"the shell metacharacter {char!r}"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"the control character {char!r}"
    return None


