"""Content hashes of the sandbox images' inputs, shared by the role and `aishell-run build`.

The CLI loads this same file for its warm check, so the role and the CLI can
never disagree on whether an image is current. Only what changes the built
image goes in: settings, the Dockerfile template's text, the CA bundle's digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

# The settings that choose the base image, which the foundation and the egress proxy's image are built on.
BASE_SETTINGS = ("sandbox_image_base_source", "sandbox_image_registry_base", "sandbox_image_offline_base")
# The settings that shape the foundation image.
FOUNDATION_SETTINGS = (
    *BASE_SETTINGS,
    "sandbox_image_node_version",
    "sandbox_image_npm_version",
    "sandbox_image_agents",
    "sandbox_image_detect_secrets_version",
)


def _digest(inputs: dict[str, Any]) -> str:
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def foundation_hash(settings: dict[str, Any], template_sha256: str, ca_sha256: str) -> str:
    """Hash of the foundation image's inputs; `ca_sha256` is "none" without a bundle."""
    chosen = {name: settings.get(name) for name in FOUNDATION_SETTINGS}
    chosen["sandbox_image_agents"] = {k: v for k, v in (chosen["sandbox_image_agents"] or {}).items() if v}
    return _digest({"settings": chosen, "template": template_sha256, "ca_bundle": ca_sha256})


def extension_hash(foundation: str, dockerfile_sha256: str) -> str:
    """Hash of a project image's inputs: its Dockerfile and the foundation it builds on."""
    return _digest({"foundation": foundation, "dockerfile": dockerfile_sha256})


def egress_hash(settings: dict[str, Any], ca_sha256: str, files_sha256: dict[str, str]) -> str:
    """Hash of the egress proxy image's inputs: its files, the base it is built on, and the CA bundle it copies.
    Not the foundation's agents or Node: projects whose images differ in those share one proxy, so a launch of
    one never makes the proxy anew for the other."""
    return _digest({"base": {name: settings.get(name) for name in BASE_SETTINGS}, "ca_bundle": ca_sha256,
                    "files": files_sha256})


def addressed_image(name: str, inputs: str) -> str:
    """The image's own tag: its name's repository, tagged with the first 16 characters of its inputs' hash.

    Two users or projects whose settings differ want different tags, so neither rebuilds the other's image;
    the name as set (`...:latest`) is kept as an alias of the image built last.
    """
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag: what follows a colon is a registry's port
        repository = name
    return f"{repository}:{inputs[:16]}"


def foundation_from(alias: str) -> str:
    """The regular expression of a Dockerfile's `FROM` of the foundation's name as set (with or without its
    tag), for ansible.builtin.replace: group 1 is what precedes the image."""
    repository, colon, tag = alias.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = alias, "latest"
    return rf"(?i)^(\s*FROM\s+(?:--\S+\s+)*){re.escape(repository)}(?::{re.escape(tag)})?(?=\s|$)"


def agent_packages(agents: dict[str, str], packages: dict[str, str]) -> list[str]:
    """npm install arguments (`package@version`) for the enabled agents, in a stable order."""
    return [f"{packages[name]}@{version}" for name, version in sorted(agents.items()) if version]


def image_report(inspected: dict[str, Any], built: list[str]) -> dict[str, Any]:
    """What the report says of one image, from a registered `image inspect` loop result."""
    image = inspected["item"]["image"]  # its own tag; the report is keyed by its name as set
    if inspected.get("rc") != 0:
        return {"present": False, "built": False, "image": image}
    size, _, labels = inspected["stdout"].partition(" ")
    labels = json.loads(labels or "null") or {}
    return {
        "present": True,
        "image": image,
        "built": image in built,
        "size_bytes": int(size),
        "inputs": labels.get("org.aishell.inputs"),
        "base": labels.get("org.aishell.base"),
    }


def build_failure(output: str) -> dict[str, Any]:
    """The failing step, the engine's reason and the log's lines, from a failed build's output.

    Docker's API reports `... message: REASON, logs: ['Step 1/4 : ...', ...]`
    on one line; Podman prints its log as it goes. Both become plain lines.
    """
    import ast  # here: every warm launch loads this file for the hashes, and only a failed build needs it

    lines: list[str] = []
    reason = None
    for raw in output.splitlines():
        found = re.search(r"message: (.*), logs: (\[.*\])\s*$", raw)
        if found:
            reason = found.group(1)
            try:
                lines.extend(str(entry) for entry in ast.literal_eval(found.group(2)))
            except (ValueError, SyntaxError):
                lines.append(raw)
        else:
            lines.append(raw)
    lines = [line.rstrip() for line in lines if line.strip()]
    steps = [line for line in lines if re.match(r"(Step|STEP) \d+/\d+ ?:", line)]
    errors = [line for line in lines if line.lower().startswith(("error", "npm error"))]
    return {
        "step": steps[-1] if steps else None,
        "reason": reason or (errors[-1] if errors else (lines[-1] if lines else "no output")),
        "lines": lines,
    }


class FilterModule:
    def filters(self):
        return {
            "aishell_foundation_hash": foundation_hash,
            "aishell_extension_hash": extension_hash,
            "aishell_egress_hash": egress_hash,
            "aishell_addressed_image": addressed_image,
            "aishell_foundation_from": foundation_from,
            "aishell_agent_packages": agent_packages,
            "aishell_image_report": image_report,
            "aishell_build_failure": build_failure,
        }
