"""The warm check for sandbox images: are the foundation and project images current?

It uses the sandbox_image role's own defaults, template and hash functions
(roles/sandbox_image/filter_plugins/image_inputs.py), so it cannot disagree
with the role; and it asks the engine only for labels, so a no-change check
costs a few tens of milliseconds and starts no Ansible.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import AishellError
from .image_defaults import role_dir, role_yaml
from .paths import role_plugin

if TYPE_CHECKING:
    from .engines.base import Engine
    from .settings import Settings


def _filters() -> ModuleType:
    return role_plugin("sandbox_image", "image_inputs.py")


def settings_with(overrides: dict[str, Any]) -> dict[str, Any]:
    """The role's defaults with `overrides` applied (what the playbook will see)."""
    return {**role_yaml("defaults/main.yml"), **overrides}


def overrides_for(settings: Settings, project: Path | None = None) -> dict[str, Any]:
    """The role variables that aishell-run's settings choose (and `project`'s own image, when it has one).
    The launch and the fleet's pre-build (fleet_images.py) both use it, so they want the same images."""
    agents = dict(settings_with({})["sandbox_image_agents"])
    agents.update({name: agent.version for name, agent in settings.agents.items() if agent.version is not None})
    overrides = {
        "sandbox_image_base_source": settings.image.base_source,
        "sandbox_image_base_fallback": settings.image.fallback,
        "sandbox_image_ca_bundle": settings.image.ca_bundle,
        "sandbox_image_agents": agents,
        # The egress proxy's image is needed only for allowlist networking.
        "sandbox_image_egress": settings.network.mode == "allowlist",
    }
    if project is not None and settings.image.dockerfile:
        overrides["sandbox_image_extension_dockerfile"] = str(settings.image.dockerfile)
        overrides["sandbox_image_extension_name"] = extension_name(project)
    return overrides


def ca_bundle_path(setting: str) -> Path | None:
    """The CA bundle the role will copy into the image, or None."""
    if setting == "none":
        return None
    if setting == "auto":
        candidates = role_yaml("vars/main.yml")["__sandbox_image_ca_candidates"]
        return next((Path(c) for c in candidates if Path(c).is_file()), None)
    path = Path(setting)
    if not path.is_file():
        raise AishellError(
            f"the CA bundle {setting} does not exist",
            hint="give the path of a PEM bundle, or `--ca-bundle auto` (the host's) or `--ca-bundle none`",
            exit_code=2,
        )
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ca_sha256(settings: dict[str, Any]) -> str:
    """The CA bundle's digest, in the foundation's and the proxy image's inputs ("none" without one)."""
    ca = ca_bundle_path(settings["sandbox_image_ca_bundle"])
    if ca is None:
        return "none"
    info = ca.stat()
    return _unchanged_file_sha256(ca, info.st_ino, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=8)  # a launch asks for the CA bundle's digest three times: hashed once while unchanged
def _unchanged_file_sha256(path: Path, *_stamp: int) -> str:
    return _sha256(path)


def foundation_hash(settings: dict[str, Any]) -> str:
    template = (role_dir() / "templates" / "Dockerfile.foundation.j2").read_text()
    return _filters().foundation_hash(settings, hashlib.sha256(template.encode()).hexdigest(), _ca_sha256(settings))


def extension_hash(foundation: str, dockerfile: Path) -> str:
    return _filters().extension_hash(foundation, _sha256(dockerfile))


EGRESS_FILES = ("templates/Dockerfile.egress.j2", "files/egress/squid.conf", "files/egress/policy",
                "files/egress/broker.py", "files/egress/gate.py")


@functools.cache  # the role's files: hashed once a process (a launch asks for them more than once)
def _egress_files() -> dict[str, str]:
    return {Path(name).name: _sha256(role_dir() / name) for name in EGRESS_FILES}


def egress_hash(settings: dict[str, Any]) -> str:
    return _filters().egress_hash(settings, _ca_sha256(settings), _egress_files())


def extension_name(project: Path) -> str:
    """A project's image name: readable, and unique per project path."""
    slug = re.sub(r"[^a-z0-9]+", "-", project.name.lower()).strip("-") or "project"
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:8]
    return f"localhost/aishell-project-{slug}-{digest}:latest"


class Freshness(NamedTuple):
    """Whether each wanted image is current (its label holds its inputs' hash)."""

    foundation_current: bool
    extension_current: bool | None  # None: the project has no extension
    egress_current: bool | None = None  # None: no egress proxy image wanted

    @property
    def all_current(self) -> bool:
        return self.foundation_current and self.extension_current is not False and self.egress_current is not False


class Wanted(NamedTuple):
    """One image the settings want, by its name and its own tag."""

    name: str  # as set (`localhost/aishell-foundation:latest`): an alias of the one wanted last
    image: str  # its own tag, NAME:HASH16 (the start of its inputs' hash): what sandboxes run


def wanted_images(settings: dict[str, Any], foundation: str) -> dict[str, Wanted]:
    """The images these settings want, by kind ("foundation", "egress", "extension"), as the role tags them."""
    wanted = {"foundation": foundation}
    if settings.get("sandbox_image_egress"):
        wanted["egress"] = egress_hash(settings)
    if settings.get("sandbox_image_extension_dockerfile"):
        wanted["extension"] = extension_hash(foundation, Path(settings["sandbox_image_extension_dockerfile"]))
    return {kind: Wanted(settings[f"sandbox_image_{kind}_name"], own_tag(settings, kind, inputs))
            for kind, inputs in wanted.items()}


def own_tag(settings: dict[str, Any], kind: str, inputs: str) -> str:
    """The tag the role gives an image of `kind` made of `inputs` (its name's repository, the hash's start)."""
    return _filters().addressed_image(settings[f"sandbox_image_{kind}_name"], inputs)


def check(engine: Engine, settings: dict[str, Any], wanted: str | None = None) -> Freshness:
    """Whether the engine has each wanted image's own tag (one engine call). The tag holds its inputs' hash, and
    the role gives it only to an image whose label holds that hash: so an image under its own tag is current.
    `wanted`: the foundation's hash when the caller has it already."""
    images = wanted_images(settings, wanted or foundation_hash(settings))
    present = engine.images_present(*(image.image for image in images.values()))
    current = {kind: image.image in present for kind, image in images.items()}
    return Freshness(current["foundation"], current["foundation"] and current["extension"]
                     if "extension" in current else None, current.get("egress"))


def image_facts(engine: Engine, name: str) -> dict[str, Any]:
    """Size and base source of an image, for the build summary."""
    run = engine.run("image", "inspect", "--format", "{{.Size}} {{json .Config.Labels}}", name)
    if run.returncode != 0:
        return {"size_bytes": None, "base": None}
    size, _, labels = run.stdout.strip().partition(" ")
    return {"size_bytes": int(size), "base": (json.loads(labels or "null") or {}).get("org.aishell.base")}


def playbook_vars(settings: dict[str, Any]) -> dict[str, Any]:
    """Extra vars for playbooks that include the sandbox_image role, as this user runs them."""
    import os

    from .paths import state_dir

    extravars = {key: value for key, value in settings.items() if key.startswith("sandbox_image_")}
    # Root builds into the system engine; anyone else into their own engine
    # (rootless Podman, or Docker through its socket), without sudo.
    as_root = os.geteuid() == 0
    extravars["sandbox_image_become"] = as_root  # read by playbooks/sandbox_image.yml
    if not as_root:
        extravars["sandbox_image_log_dir"] = str(state_dir() / "builds")
    return extravars


def wanted_image(settings: dict[str, Any], foundation: str) -> str:
    """The image a sandbox runs (its own tag): the project's when it has one, else the foundation."""
    images = wanted_images(settings, foundation)
    return (images.get("extension") or images["foundation"]).image
