"""`aishell-run settings`: each effective value with the file and line it comes from, a lock, or the default."""

import json
import subprocess
import sys

import pytest

from aishell_runner.settings import SettingsError
from aishell_runner.settings.origins import explain


def origins(layers):
    found = explain(layers.project, system_file=layers.system, user_file=layers.user,
                    environ={"HOME": str(layers.home)})
    return {origin.key: origin for origin in found}


def test_each_value_names_the_file_and_line_that_set_it_and_the_rest_their_default(layers):
    layers.write(user="network:\n  allow: [a.example]\n",
                 project="engine: docker\nnetwork:\n  mode: allowlist\n  allow:\n    - b.example\n")
    found = origins(layers)
    assert (found["engine"].value, found["engine"].source) == ("docker", f"{layers.project_file}:1")
    assert found["network.mode"].source == f"{layers.project_file}:3"
    # Lists concatenate across layers: one origin per item, farthest layer first.
    assert found["network.allow"].value == ["a.example", "b.example"]
    assert found["network.allow"].source == f"{layers.user}:2, {layers.project_file}:5"
    assert (found["harness"].value, found["harness"].source) == ("claude", "default")
    assert (found["resources.cpus"].value, found["resources.cpus"].source) == (None, "not set")


def test_a_locked_key_names_its_lock(layers):
    layers.write(system="locks:\n  network.mode: {one_of: [allowlist, none]}\n")
    found = origins(layers)
    assert found["network.mode"].locked_by == f"{layers.system}:2"
    assert found["network.mode"].value == "allowlist" and found["network.mode"].source == f"{layers.system}:2"
    assert found["engine"].locked_by is None


def test_what_a_launch_refuses_is_refused_with_the_same_message(layers):
    layers.write(project="resources: {cpus: many}\n")
    with pytest.raises(SettingsError) as caught:
        origins(layers)
    assert caught.value.file == layers.project_file and caught.value.key == "resources.cpus"


def run_cli(layers, *arguments):
    return subprocess.run([sys.executable, "-m", "aishell_runner.cli", "settings", "--project", str(layers.project),
                           *arguments], capture_output=True, text=True,
                          env={"HOME": str(layers.home), "XDG_CONFIG_HOME": str(layers.home / ".config"),
                               "PATH": "/usr/bin:/bin"})


def test_the_command_checks_prints_json_and_exits_2_on_a_bad_layer(layers):
    layers.write(project="engine: podman\n")
    document = json.loads(run_cli(layers, "--json").stdout)
    assert {"key": "engine", "value": "podman", "from": f"{layers.project_file}:1", "locked_by": None} in document
    assert run_cli(layers, "--check").returncode == 0
    layers.write(project="engine: potato\n")
    bad = run_cli(layers, "--check")
    assert bad.returncode == 2 and f"{layers.project_file}:1" in bad.stderr and "Traceback" not in bad.stderr
