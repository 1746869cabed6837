"""The filters that run aishell-run's settings code on the controller: role system_settings' check
(roles/system_settings/filter_plugins/settings_check.py) and fleet.yml's image choice
(playbooks/filter_plugins/fleet_images.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from aishell_runner import fleet_images

REPO = Path(__file__).resolve().parents[2]


def _filters(path: str) -> dict:
    spec = importlib.util.spec_from_file_location(f"test_{Path(path).stem}", REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


def test_the_settings_check_names_the_host_file_or_says_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    problem = _filters("roles/system_settings/filter_plugins/settings_check.py")["aishell_settings_problem"]
    name = "dev-ana:/etc/aishell/config.yaml"
    assert problem("locks:\n  resources.pids: {at_most: 10}\nresources: {pids: 5}\n", name) == ""
    assert problem("locks:\n  resources.pids: {at_most: 10}\nresources: {pids: 20}\n", name) == (
        f"error: {name}:3: resources.pids: 20 contradicts this file's own lock: {name}:2 locks resources.pids to "
        "at most 10\nhint: make resources.pids fit the lock, or change the lock")
    assert problem("netwrok: {mode: open}\n", name).startswith(f"error: {name}:1: ")


def test_the_fleet_image_choice_is_aishell_runs_own(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    image_vars = _filters("playbooks/filter_plugins/fleet_images.py")["aishell_fleet_image_vars"]
    text = "image: {base_source: debootstrap}\nnetwork: {mode: open}\n"
    assert image_vars(text) == fleet_images.image_vars_of_text(text)
    assert image_vars(text)["sandbox_image_egress"] is False
    with pytest.raises(AnsibleFilterError, match=r"^error: fleet_settings:1: "):
        image_vars("netwrok: {mode: open}\n")
