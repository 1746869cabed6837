"""Reading Lima's answers, shared by the lima role and `aishell-run` (aishell_runner/platforms/macos.py).

`limactl list --json` prints one JSON object per instance and line (Lima's
limatype.Instance: name, status, dir, vmType, cpus, memory and disk in bytes,
and config, the instance's lima.yaml with Lima's defaults filled in).
"""

from __future__ import annotations

import json
import re

# Lima reads sizes with go-units' RAMInBytes: binary multiples whatever the spelling ("4GiB", "4GB", "4g").
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def lima_bytes(size) -> int:
    """Bytes in a Lima size such as "8GiB" (ValueError for what Lima would refuse too)."""
    if isinstance(size, int):
        return size
    match = _SIZE.match(str(size))
    if not match:
        raise ValueError(f"{size!r} is not a size Lima understands (e.g. 8GiB, 512MiB)")
    return int(float(match.group(1)) * 1024 ** _POWERS[match.group(2).lower()])


def lima_instance(list_output: str, name: str) -> dict:
    """The instance called `name` in `limactl list --json` output, or {} when there is none."""
    for line in (list_output or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            instance = json.loads(line)
            if instance.get("name") == name:
                return instance
    return {}


def _size_text(size: int) -> str:
    return f"{size / 1024 ** 3:g}GiB"


def lima_config_diff(instance: dict, wanted: dict) -> list[str]:
    """How an existing instance differs from `wanted` (vmType, cpus, memory, disk, mountType, mounts, engine)."""
    config = instance.get("config") or {}
    found = []
    if instance.get("vmType") != wanted["vmType"]:
        found.append(f"vmType is {instance.get('vmType')}, wanted {wanted['vmType']}")
    if instance.get("cpus") != wanted["cpus"]:
        found.append(f"cpus is {instance.get('cpus')}, wanted {wanted['cpus']}")
    for key in ("memory", "disk"):
        have, want = instance.get(key), lima_bytes(wanted[key])
        if have != want:
            found.append(f"{key} is {_size_text(have) if isinstance(have, int) else have}, wanted {wanted[key]}")
    if config.get("mountType") != wanted["mountType"]:
        found.append(f"mountType is {config.get('mountType')}, wanted {wanted['mountType']}")
    mounts = {m.get("location"): m for m in config.get("mounts") or []}
    for location in wanted["mounts"]:
        mount = mounts.get(location)
        if mount is None:
            found.append(f"{location} is not mounted")
        elif not mount.get("writable"):
            found.append(f"{location} is mounted read-only")
        elif (mount.get("mountPoint") or location) != location:
            found.append(f"{location} is mounted at {mount.get('mountPoint')}, not at the same path")
    sockets = [f.get("hostSocket", "") for f in config.get("portForwards") or []]
    if not any(socket.endswith(f"/sock/{wanted['engine']}.sock") for socket in sockets):
        found.append(f"no {wanted['engine']} socket is forwarded (another engine was provisioned)")
    return found


class FilterModule:
    def filters(self):
        return {"lima_bytes": lima_bytes, "lima_instance": lima_instance, "lima_config_diff": lima_config_diff}
