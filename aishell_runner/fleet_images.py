"""What playbooks/fleet.yml pre-builds on a host: the sandbox_image variables that the team's settings
layer makes aishell-run look for there, so a developer's first launch finds its images current.

`python -m aishell_runner.fleet_images < config.yaml` prints them as JSON; fleet.yml runs it on the
controller, as role system_settings runs aishell_runner.settings_locks.
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


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        system_file = Path(scratch) / "config.yaml"
        system_file.write_text(sys.stdin.read())
        try:
            print(json.dumps(image_vars(system_file)))
        except SettingsError as error:
            print(f"error: {error.message.replace(str(system_file), 'fleet_settings')}", file=sys.stderr)
            return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
