"""The sandbox_image variables that a team's settings layer makes aishell-run look for
(aishell_runner/fleet_images.py), as a filter of playbooks/fleet.yml, run on the controller.

The code is the aishell_runner package that came with these playbooks: the checkout's, the installed
wheel's (the playbooks are its aishell_runner/_data), or the copy inside the Ansible collection
aishell.sandbox, whose plugins/filter/ holds this same file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError


def _aishell_runner_on_path() -> None:
    """Put the aishell_runner next to these playbooks first on sys.path (once), so its version matches theirs."""
    # The first folder above this file that holds the package: a checkout, the collection's root, or (for
    # the wheel, where the roles are aishell_runner/_data) site-packages.
    for top in Path(__file__).resolve().parents[:6]:
        if (top / "aishell_runner" / "__init__.py").is_file():
            if str(top) not in sys.path:
                sys.path.insert(0, str(top))
            break


def aishell_fleet_image_vars(text: str) -> dict:
    """The image variables for a host whose system layer is the YAML `text` (fleet_settings | to_nice_yaml)."""
    _aishell_runner_on_path()
    try:
        from aishell_runner import fleet_images
        from aishell_runner.settings import SettingsError
    except ImportError as error:
        raise AnsibleFilterError(f"aishell-run's Python code cannot load: {error}") from None
    try:
        return fleet_images.image_vars_of_text(str(text))
    except SettingsError as error:
        raise AnsibleFilterError(f"error: {error.message}" + (f"\nhint: {error.hint}" if error.hint else "")) from None


class FilterModule:
    def filters(self):
        return {"aishell_fleet_image_vars": aishell_fleet_image_vars}
