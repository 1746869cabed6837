"""Built settings remembered between launches (aishell_runner/settings/cache.py): taken only while nothing
they were built from changed, and never where another user could have written them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aishell_runner.settings import SettingsError, load_settings
from aishell_runner.settings import cache as settings_cache


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".config" / "aishell").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return home


@pytest.fixture
def project(tmp_path):
    project = tmp_path / "project"
    (project / ".aishell").mkdir(parents=True)
    (project / "data").mkdir()
    return project


@pytest.fixture
def builds(monkeypatch):
    """How many times the layers were read and built (not taken from the cache)."""
    from aishell_runner.settings import load

    counted = []
    real = load._load

    def counting(*args, **kwargs):
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(load, "_load", counting)
    return counted


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # Two writes within one clock tick must still differ in what the key sees: a new inode does.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))


def test_the_same_inputs_are_built_once_and_each_layer_change_builds_again(home, project, builds):
    write(project / ".aishell" / "config.yaml", "harness: codex\n")
    first = load_settings(project)
    assert load_settings(project) == first and len(builds) == 1
    write(project / ".aishell" / "config.yaml", "harness: gemini\n")
    assert load_settings(project).harness == "gemini" and len(builds) == 2
    write(home / ".config" / "aishell" / "config.yaml", "resources: {cpus: 1}\n")
    assert load_settings(project).resources.cpus == 1 and len(builds) == 3
    (home / ".config" / "aishell" / "config.yaml").unlink()
    assert load_settings(project).resources.cpus != 1 and len(builds) == 4
    assert load_settings(project, allow_risky_mounts=True) and len(builds) == 5  # another key


def test_aishells_user_file_counts_as_soon_as_it_appears(home, project, builds):
    load_settings(project)
    (home / ".aishell").mkdir()
    write(home / ".aishell" / "config.yaml", "harness: opencode\n")
    assert load_settings(project).harness == "opencode" and len(builds) == 2


def test_a_mount_source_retargeted_at_the_home_is_checked_again_and_refused(home, project, builds):
    (project / "link").symlink_to(project / "data")
    write(project / ".aishell" / "config.yaml", "mounts: [./link]\n")
    assert load_settings(project).mounts[0].source == project / "link"
    (project / "link").unlink()
    (project / "link").symlink_to(home)
    with pytest.raises(SettingsError, match="home directory"):
        load_settings(project)
    assert len(builds) == 2


def test_a_mount_source_that_is_gone_is_an_error_again(home, project, builds):
    write(project / ".aishell" / "config.yaml", "mounts: [./data]\n")
    load_settings(project)
    (project / "data").rmdir()
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(project)
    with pytest.raises(SettingsError, match="does not exist"):  # errors are never kept
        load_settings(project)
    assert len(builds) == 3


def test_a_dockerfile_that_appears_is_seen(home, project, builds):
    assert load_settings(project).image.dockerfile is None
    (project / ".aishell" / "Dockerfile").write_text("FROM localhost/aishell-foundation:latest\n")
    assert load_settings(project).image.dockerfile == project / ".aishell" / "Dockerfile" and len(builds) == 2


def test_a_damaged_entry_or_one_others_may_write_is_not_taken(home, project, builds, tmp_path):
    load_settings(project)
    (entry,) = (tmp_path / "cache" / "aishell" / "settings").glob("*.pickle")
    assert entry.stat().st_mode & 0o777 == 0o600
    entry.write_bytes(b"not a pickle")
    load_settings(project)
    assert len(builds) == 2
    entry.chmod(0o666)  # anyone could have put anything there: unpickling it would run it
    load_settings(project)
    assert len(builds) == 3


def test_another_home_is_another_key(home, project, builds, monkeypatch, tmp_path):
    load_settings(project)
    other = tmp_path / "other-home"
    other.mkdir()
    monkeypatch.setenv("HOME", str(other))
    load_settings(project)
    assert len(builds) == 2


def test_explicit_files_or_environment_are_never_cached(home, project, builds, tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("harness: codex\n")
    load_settings(project, user_file=user)
    load_settings(project, user_file=user)
    load_settings(project, environ={"HOME": str(home)})
    assert len(builds) == 3
    assert not (tmp_path / "cache" / "aishell" / "settings").exists()


def test_a_warm_load_imports_neither_the_yaml_parser_nor_the_builder(home, project):
    write(project / ".aishell" / "config.yaml", "harness: codex\n")
    load_settings(project)
    code = ("import sys; from aishell_runner.settings import load_settings; "
            f"assert load_settings({str(project)!r}).harness == 'codex'; "
            "print(sorted(m for m in sys.modules if m == 'yaml' or m.startswith('aishell_runner.settings.')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    assert run.stdout.strip() == str(sorted(["aishell_runner.settings.cache", "aishell_runner.settings.files",
                                             "aishell_runner.settings.load", "aishell_runner.settings.model"]))


def test_the_key_follows_the_settings_code(home, project, monkeypatch):
    before = settings_cache._key(project, False, os.environ)
    monkeypatch.setattr(settings_cache, "__version__", "0.0.0-other")
    assert settings_cache._key(project, False, os.environ) != before
