"""What playbooks/fleet.yml pre-builds on a host: the sandbox_image variables that the team's settings
layer makes aishell-run look for there, so a developer's first launch finds its images current.

fleet.yml asks through its filter plugin (playbooks/filter_plugins/fleet_images.py), on the controller;
`python -m aishell_runner.fleet_images < config.yaml` prints them as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import images
from .settings import SettingsError, load_settings


def image_vars(system_file: Path) -> dict[str, Any]:
    """The image variables for a host whose /etc/aishell/config.yaml is `system_file` (no user or project
    settings: those are each developer's own, and may still ask for other images)."""
    settings = load_settings(system_file.parent, system_file=system_file, user_file=system_file.with_name("none"))
    return images.overrides_for(settings)


def image_vars_of_text(text: str, name: str = "fleet_settings") -> dict[str, Any]:
    """`image_vars` of a settings layer given as text; a SettingsError's message names it `name`."""
    with tempfile.TemporaryDirectory() as scratch:
        system_file = Path(scratch) / "config.yaml"
        system_file.write_text(text)
        try:
            return image_vars(system_file)
        except SettingsError as error:
            error.message = error.message.replace(str(system_file), name)
            raise


def main() -> int:
    try:
        print(json.dumps(image_vars_of_text(sys.stdin.read())))
    except SettingsError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
