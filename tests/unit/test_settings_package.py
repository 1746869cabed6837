"""The settings package: no import circle, and no dependence on the image code (issue 2.5, item 1)."""

import subprocess
import sys


def test_importing_settings_does_not_import_images():
    """In a fresh interpreter: checking settings needs neither images.py nor the image role's files."""
    probe = ("import aishell_runner.settings, sys; "
             "assert 'aishell_runner.images' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", probe], check=True)
