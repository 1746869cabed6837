"""macOS: the engine runs in the Lima VM that the lima role made (roles/lima).

A launch finds it without flags: the VM's forwarded socket (in Lima's own
instance directory) becomes DOCKER_HOST or CONTAINER_HOST, unless the user set
those. Only directories the VM mounts writable at their own path can be a
project; anything else would be an empty directory inside the VM.
`limactl list --json` is asked only by `aishell-run check`: a launch reads the
instance's lima.yaml and looks for the socket, which costs no process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from ..errors import UsageError
from ..paths import role_plugin

# Where Homebrew puts limactl when the shell's PATH does not say: Apple silicon, then Intel.
HOMEBREW_BINS = ("/opt/homebrew/bin", "/usr/local/bin")
# The engine variable each client reads, and the socket the lima role forwards for it.
CLIENT_VARIABLES = {"docker": "DOCKER_HOST", "podman": "CONTAINER_HOST"}


def on_macos() -> bool:
    return sys.platform == "darwin"


def instance_name() -> str:
    return os.environ.get("AISHELL_LIMA_INSTANCE") or "aishell"


def instance_dir() -> Path:
    return Path(os.environ.get("LIMA_HOME") or Path.home() / ".lima") / instance_name()


def rules() -> ModuleType:
    """The lima role's own reading of Lima's answers (roles/lima/filter_plugins/lima_instance.py)."""
    return role_plugin("lima", "lima_instance.py")


def _config() -> dict | None:
    path = instance_dir() / "lima.yaml"
    if not path.is_file():
        return None
    import yaml  # only on macOS, only when a VM exists

    return yaml.safe_load(path.read_text()) or {}


def export_engine_env() -> None:
    """Point the engine clients at the VM's forwarded sockets, where the user has not chosen otherwise."""
    if not on_macos():
        return
    for engine, variable in CLIENT_VARIABLES.items():
        socket = instance_dir() / "sock" / f"{engine}.sock"
        if variable not in os.environ and socket.exists():
            os.environ[variable] = f"unix://{socket}"


def uses_vm(engine: str) -> bool:
    """Whether `engine`'s client here talks to this VM (not, say, to Docker Desktop)."""
    variable = CLIENT_VARIABLES.get(engine, "")
    return os.environ.get(variable, "").startswith(f"unix://{instance_dir()}/")


def mounted_dirs(config: dict) -> list[Path]:
    """Host directories the VM mounts writable at the same path (where a project mounts as on Linux)."""
    dirs = []
    for mount in config.get("mounts") or []:
        location = Path(os.path.expanduser(str(mount.get("location", ""))))
        point = mount.get("mountPoint")
        if mount.get("writable") and (point is None or Path(os.path.expanduser(str(point))) == location):
            dirs.append(location)
    return dirs


def require_mounted(project: Path, engine: str) -> None:
    """Refuse (exit 2) a project outside the VM's writable same-path mounts when `engine` is the VM's."""
    export_engine_env()
    config = _config()
    if config is None or not uses_vm(engine):
        return
    dirs = mounted_dirs(config)
    resolved = project.resolve()
    if any(resolved == d.resolve() or d.resolve() in resolved.parents for d in dirs):
        return
    shown = ", ".join(str(d) for d in dirs) or "nothing"
    name = instance_name()
    raise UsageError(
        f"{project} is outside the directories the Lima VM {name} shares with the engine ({shown}), "
        "so the sandbox would see an empty directory",
        hint=f"move the project under {dirs[0] if dirs else Path.home()}; or share its directory with the VM: "
             f"`limactl stop {name} && limactl edit {name} --mount DIR:w && limactl start {name}` "
             f"(and list DIR in lima_extra_mounts for later bootstraps)",
    )


def _limactl() -> str | None:
    return shutil.which("limactl") or next(
        (f"{d}/limactl" for d in HOMEBREW_BINS if os.access(f"{d}/limactl", os.X_OK)), None)


def findings() -> list[tuple[str, bool, str, str]]:
    """The VM's state, type and mount type for `aishell-run check`."""
    name = instance_name()
    what = f"Lima VM {name}"
    limactl = _limactl()
    if limactl is None:
        return [(what, False, "Lima is not installed", "aishell-run bootstrap (installs Lima with Homebrew)")]
    run = subprocess.run([limactl, "list", "--json"], capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        return [(what, False, f"`limactl list --json` failed: {run.stderr.strip()[:300]}", "limactl list")]
    instance = rules().lima_instance(run.stdout, name)
    if not instance:
        return [(what, False, "no such instance", "aishell-run bootstrap (creates and starts it)")]
    config = instance.get("config") or {}
    status = instance.get("status", "?")
    detail = (f"{status}, vmType {instance.get('vmType', '?')}, mountType {config.get('mountType', '?')}, "
              f"{instance.get('cpus', '?')} CPUs, {(instance.get('memory') or 0) / 1024**3:g} GiB memory; "
              f"shares {', '.join(str(d) for d in mounted_dirs(config)) or 'no directory'} writable")
    fixes = {"Running": "", "Stopped": f"limactl start {name}"}
    return [(what, status == "Running", detail,
             fixes.get(status, f"see `limactl list` and {instance.get('dir', '')}/ha.stderr.log"))]
