"""Locks in the system settings layer: nearer layers cannot loosen a locked key, and are told which lock."""

from __future__ import annotations

import pytest

from aishell_runner.settings.locks import LockedKeyError

POLICY = """\
locks:
  network.mode: {one_of: [allowlist, none], reason: agents reach only the team's allowlist}
  security.seccomp: {value: default}
  security.add_capabilities: {at_most: [NET_BIND_SERVICE]}
  resources.pids: {at_most: 2048}
  resources.memory: {at_most: 8g}
  exclude: {at_least: [.env, "*.pem"]}
  agents.claude.version: {versions: ">=2.1.300,<2.2"}
"""


@pytest.fixture
def files(layers):
    """Three settings layers whose system file holds POLICY unless a test writes another."""
    layers.write(system=POLICY)
    return layers


def test_user_file_loosening_network_mode_is_refused_naming_file_key_and_lock(files):
    error = files.error(user="engine: docker\nnetwork:\n  mode: open\n")
    assert isinstance(error, LockedKeyError) and error.exit_code == 3
    assert error.file == files.user and error.line == 3 and error.key == "network.mode"
    assert f"{files.system}:2 locks network.mode to one of 'allowlist', 'none'" in error.message
    assert "reason: agents reach only the team's allowlist" in error.message
    assert str(files.user) in error.hint


def test_tightening_within_the_lock_is_accepted(files):
    settings = files.load(project="network: {mode: none}\nresources: {pids: 100, memory: 512m}\n"
                                  "security: {add_capabilities: [NET_BIND_SERVICE], seccomp: default}\n"
                                  "agents: {claude: {version: '2.1.332'}}\nexclude: [secrets/]\n")
    assert settings.raw["network"]["mode"] == "none"
    assert settings.resources.pids == 100 and settings.resources.memory == "512m"
    assert settings.security.add_capabilities == ("NET_BIND_SERVICE",)


def test_locks_supply_their_values_when_no_layer_sets_the_key(files):
    settings = files.load()
    assert settings.raw["network"]["mode"] == "allowlist"
    assert settings.resources.pids == 2048 and settings.resources.memory == "8g"
    assert settings.exclude == (".env", "*.pem")


def test_at_least_items_stay_and_layers_add_more(files):
    settings = files.load(system=POLICY + "exclude: [.env]\n", project="exclude: [secrets/]\n")
    assert settings.exclude == (".env", "secrets/", "*.pem")


@pytest.mark.parametrize(
    ("project", "key", "line"),
    [
        ("security:\n  seccomp: unconfined\n", "security.seccomp", 2),
        ("security:\n  add_capabilities: [NET_BIND_SERVICE, SYS_ADMIN]\n", "security.add_capabilities[1]", 2),
        ("resources: {pids: 4096}\n", "resources.pids", 1),
        ("resources:\n  memory: 9g\n", "resources.memory", 2),
        ("agents:\n  claude:\n    version: '2.2.0'\n", "agents.claude.version", 3),
        ("agents:\n  claude:\n    version: latest\n", "agents.claude.version", 3),
    ],
)
def test_project_loosening_a_locked_key_is_refused(files, project, key, line):
    error = files.error(project=project)
    assert isinstance(error, LockedKeyError)
    assert error.file == files.project_file and error.key == key and error.line == line
    assert "is refused" in error.message and str(files.system) in error.message


def test_leaving_the_locked_agent_out_is_not_a_loosening(files):
    assert files.load(project="agents: {claude: {version: ''}}\n").agents["claude"].version == ""


def test_system_file_contradicting_its_own_lock_is_refused(files):
    error = files.error(system=POLICY + "resources: {pids: 9999}\n")
    assert error.file == files.system and error.key == "resources.pids"
    assert "own lock" in error.message


def test_only_the_system_file_may_lock(files):
    error = files.error(user="locks:\n  network.mode: {value: open}\n")
    assert error.file == files.user and error.key == "locks" and "only the system settings file" in error.message


@pytest.mark.parametrize(
    ("lock", "words"),
    [
        ("netwrk.mode: {value: open}", "did you mean 'network.mode'"),
        ("security: {value: default}", "not a key that can be locked"),
        ("network.mode: {value: open, one_of: [none]}", "exactly one rule"),
        ("network.mode: {at_least: [open]}", "at_least does not apply to network.mode"),
        ("network.mode: {value: opne}", "'opne' is not a valid value for network.mode"),
        ("resources.memory: {at_most: lots}", "not a valid value for resources.memory"),
        ("agents.claude.version: {versions: '=>2'}", "is not a version range"),
    ],
)
def test_a_malformed_lock_names_the_lock(files, lock, words):
    error = files.error(system=f"locks:\n  {lock}\n")
    assert not isinstance(error, LockedKeyError) and error.exit_code == 2
    assert error.file == files.system and error.line == 2 and words in error.message


def test_built_in_agent_version_outside_the_range_points_at_the_lock(files):
    error = files.error(system="locks:\n  agents.claude.version: {versions: '<1'}\n")
    assert error.file == files.system and error.line == 2 and "built-in claude version" in error.message


def test_true_is_not_the_number_one(files):
    error = files.error(system="locks:\n  security.no_new_privileges: {value: true}\n",
                          project="security: {no_new_privileges: false}\n")
    assert error.key == "security.no_new_privileges"


def test_controller_check_names_the_host_file_and_exits_like_aishell_run(tmp_path, monkeypatch):
    """What roles/system_settings' filter plugin runs before writing a host's file: locks.check_text."""
    from aishell_runner.settings import locks

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, report = locks.check_text("locks:\n  resources.pids: {at_most: 10}\nresources: {pids: 20}\n",
                                    "dev-ana:/etc/aishell/config.yaml")
    assert code == 3
    assert report.startswith(
        "error: dev-ana:/etc/aishell/config.yaml:3: resources.pids: 20 contradicts this file's own lock")
    assert locks.check_text(POLICY, "dev-ana:/etc/aishell/config.yaml") == (0, "")
