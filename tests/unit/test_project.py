"""Which project a command works on: the same rule for launch, build, settings, logs and scan."""

import os
import subprocess
from pathlib import Path

import pytest

from aishell_runner.errors import EXIT_USAGE, AishellError
from aishell_runner.project import find_project
from tests.unit.conftest import REAL_GIT


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


def gits_answer(start: Path) -> Path:
    run = subprocess.run([REAL_GIT, "-C", str(start), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True)
    return Path(run.stdout.strip()) if run.returncode == 0 else start


def test_the_top_is_gits_own_answer_and_git_is_asked_only_where_it_must_be(tmp_path, monkeypatch, git_calls):
    outside, main = tmp_path / "outside", tmp_path / "repos" / "main"
    outside.mkdir()
    main.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    subprocess.run(["git", "-C", str(main), "commit", "-q", "--allow-empty", "-m", "x"], check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
                        "GIT_COMMITTER_EMAIL": "a@b"})
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(tmp_path / "repos" / "agent")], check=True)
    (main / "src").mkdir()
    git_calls()
    # directory -> whether git must be asked: a repository's top (its `.git` a directory, or a worktree's file)
    # and a directory with no `.git` above are answered by looking; a subdirectory of a work tree is git's to say.
    for start, asks in ((main, False), (tmp_path / "repos" / "agent", False), (outside, False), (main / "src", True)):
        monkeypatch.chdir(start)
        assert (find_project(None), len(git_calls())) == (gits_answer(start), int(asks)), start
    monkeypatch.setenv("GIT_DIR", str(main / ".git"))  # git obeys it wherever it runs: asked
    monkeypatch.chdir(outside)
    assert (find_project(None), len(git_calls())) == (gits_answer(outside), 1)
