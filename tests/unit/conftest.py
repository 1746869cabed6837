"""Unit tests' shared fixtures."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from aishell_runner.settings import SettingsError, load_settings

REAL_GIT = shutil.which("git")  # looked up before any test puts its wrapper first


@pytest.fixture
def git_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """The real git behind a wrapper, first on PATH, that notes each call: the fixture returns a function that
    gives the calls made since it was last called (each git's arguments), which shows which answers took a git
    process."""
    calls, wrapper = tmp_path / "git-calls", tmp_path / "git-wrapper" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {REAL_GIT} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    calls.write_text("")

    def made() -> list[str]:
        lines = calls.read_text().splitlines()
        calls.write_text("")
        return lines
    return made


class Layers:
    """A system file, a user file and a project, all under tmp_path, and a fake home directory."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.project = self.home / "proj"
        (self.project / ".aishell").mkdir(parents=True)
        self.system = root / "etc" / "config.yaml"
        self.user = self.home / ".config" / "aishell" / "config.yaml"
        self.system.parent.mkdir(parents=True)
        self.user.parent.mkdir(parents=True)

    @property
    def project_file(self) -> Path:
        return self.project / ".aishell" / "config.yaml"

    def write(self, *, system: str | None = None, user: str | None = None, project: str | None = None) -> None:
        for path, text in ((self.system, system), (self.user, user), (self.project_file, project)):
            if text is not None:
                path.write_text(textwrap.dedent(text))

    def load(self, *, system: str | None = None, user: str | None = None, project: str | None = None, **kwargs):
        """Write the layers given, then load all three."""
        self.write(system=system, user=user, project=project)
        kwargs.setdefault("environ", {"HOME": str(self.home)})
        return load_settings(self.project, system_file=self.system, user_file=self.user, **kwargs)

    def error(self, project: str | None = None, **kwargs) -> SettingsError:
        """The SettingsError that loading refuses with (layers to write as keywords, like load)."""
        with pytest.raises(SettingsError) as caught:
            self.load(project=project, **kwargs)
        return caught.value


@pytest.fixture
def layers(tmp_path: Path) -> Layers:
    return Layers(tmp_path)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's listings and file keys made a moment ago count as settled: the tests change a tree within
    milliseconds, where a real scan would read such a file or list such a directory again ("racy")."""
    import importlib

    monkeypatch.setattr(importlib.import_module("aishell_runner.scan.walk"), "RACY_NS", 0)
