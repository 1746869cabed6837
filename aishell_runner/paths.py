"""Where the project's playbooks live and where runs keep their state."""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType

from .errors import AishellError

# What aishell-run reads at run time besides its Python code. A wheel carries them as package data,
# aishell_runner/_data (setup.py copies them there); a checkout has them at its top.
INSTALL_DATA = ("ansible.cfg", "roles", "playbooks", "inventories/local")
PACKAGE = Path(__file__).resolve().parent


def install_root() -> Path:
    """Where aishell-run's ansible.cfg, playbooks/, roles/ and inventories/ are: $AISHELL_RUN_HOME when set,
    else the package's own copy (an installed wheel), else the checkout the package sits in (an editable
    install, or a copy of the package next to the roles, as in the Ansible collection)."""
    override = os.environ.get("AISHELL_RUN_HOME")
    if override:
        return Path(override)
    for root in (PACKAGE / "_data", PACKAGE.parent):
        if (root / "playbooks").is_dir() and (root / "roles").is_dir():
            return root
    raise AishellError(
        f"aishell-run's playbooks and roles are not installed: {PACKAGE / '_data'} is missing "
        f"({', '.join(INSTALL_DATA)})",
        hint="install the wheel that `python -m build` makes in a checkout (`pipx install dist/aishell_runner-*.whl`, "
             "it carries them), or `pip install -e .` in a checkout, or set AISHELL_RUN_HOME to a checkout",
    )


def state_dir() -> Path:
    """XDG state directory: run artifacts, logs."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "aishell"


def data_dir() -> Path:
    """XDG data directory: what must last (the agents' sandbox profiles)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aishell"


def cache_dir() -> Path:
    """XDG cache directory: results that can be recomputed (validated settings, scan results)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aishell"


@cache
def role_plugin(role: str, filename: str) -> ModuleType:
    """A role's filter plugin, loaded as a module: the CLI uses the role's own rules, so the two agree."""
    path = install_root() / "roles" / role / "filter_plugins" / filename
    spec = importlib.util.spec_from_file_location(f"aishell_{role}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
