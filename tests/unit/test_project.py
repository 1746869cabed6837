"""Which project a command works on: the same rule for launch, build, settings, logs and scan."""

import subprocess

import pytest

from aishell_runner.errors import EXIT_USAGE, AishellError
from aishell_runner.project import find_project


def test_inside_a_git_work_tree_the_top_is_the_project_and_a_given_path_is_used_as_given(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "src" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "src" / "deep")
    assert find_project(None) == tmp_path
    assert find_project(str(tmp_path / "src")) == tmp_path / "src"


def test_outside_git_the_current_directory_and_a_missing_directory_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_project(None) == tmp_path
    with pytest.raises(AishellError) as caught:
        find_project(str(tmp_path / "nope"))
    assert caught.value.exit_code == EXIT_USAGE and "is not a directory" in caught.value.message
