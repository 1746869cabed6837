"""The settings package: no import circle, and no dependence on the image code (issue 2.5, item 1)."""

import subprocess
import sys


def test_importing_settings_does_not_import_images():
    """In a fresh interpreter: checking settings needs neither images.py nor the image role's files."""
    probe = ("import aishell_runner.settings, sys; "
             "assert 'aishell_runner.images' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_each_value_check_is_paired_with_its_keys_once_and_both_paths_use_the_pairing(layers):
    """The schema's pattern error and the merged-value check word one problem the same way; the merged check
    also catches what jsonschema's `re.search` lets through (a trailing newline)."""
    from aishell_runner.settings import SettingsError
    from aishell_runner.settings.checks import VALUE_CHECKS, check_for

    assert check_for(("network", "internal_hosts", "db")) is VALUE_CHECKS[("network", "internal_hosts", "*")]
    assert check_for(("network", "internal_hosts")) is None
    by_schema = layers.error(user="network:\n  internal_hosts:\n    db: 10.1.2\n")  # a project may not set it
    assert "'10.1.2' is not an IPv4 address" in by_schema.message and "network.internal_hosts.db" in by_schema.message
    layers.write(user="", project='network:\n  allow: ["api.example.com\\n"]\n')
    try:
        layers.load()
    except SettingsError as caught:
        assert "is not a host name" in caught.message and "network.allow[0]" in caught.message, caught.message
    else:
        raise AssertionError("a host name with a trailing newline was accepted")
