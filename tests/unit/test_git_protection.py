"""What git on the host runs or obeys by itself is mounted read-only (aishell_runner/git_protection.py).

Real repositories made with git itself: a project, a worktree of it, a submodule, included config files.
"""

import subprocess
from pathlib import Path

from aishell_runner.engines.docker import Docker
from aishell_runner.git_protection import protected_paths
from aishell_runner.plan import git_common_dir, make_plan
from tests.unit.test_plan import launch_options


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.org",
                           "-c", "protocol.file.allow=always", *args], cwd=cwd, check=True, capture_output=True,
                          text=True)


def repository(path: Path) -> Path:
    path.mkdir(parents=True)
    git("init", "-q", cwd=path)
    git("commit", "-q", "--allow-empty", "-m", "init", cwd=path)
    return path


def test_hooks_config_and_included_files_inside_are_protected_and_outside_ones_are_not(tmp_path):
    project = repository(tmp_path / "project")
    (project / ".git" / "config.worktree").write_text("[core]\n")
    (project / ".git" / "extra.inc").write_text("[alias]\n  st = status\n")
    (project / "tracked.inc").write_text("[include]\n  path = .git/nested.inc\n")
    (project / ".git" / "nested.inc").write_text("")
    outside = tmp_path / "outside.inc"
    outside.write_text("")
    git("config", "--add", "include.path", "extra.inc", cwd=project)
    git("config", "--add", "include.path", str(project / "tracked.inc"), cwd=project)
    git("config", "--add", "includeIf.gitdir:/nowhere/.path", str(outside), cwd=project)
    found = protected_paths(project, None)
    dot_git = project / ".git"
    assert found[:3] == [dot_git / "hooks", dot_git / "config", dot_git / "extra.inc"]
    assert {project / "tracked.inc", dot_git / "nested.inc", dot_git / "config.worktree"} <= set(found)
    assert outside not in found  # not in the sandbox's reach: mounting it would bring it in


def test_a_missing_hooks_directory_is_made_so_that_it_can_be_mounted(tmp_path):
    project = repository(tmp_path / "project")
    subprocess.run(["rm", "-rf", str(project / ".git" / "hooks")], check=True)
    assert project / ".git" / "hooks" in protected_paths(project, None)
    assert (project / ".git" / "hooks").is_dir()


def test_a_worktree_protects_the_shared_git_directory_and_each_worktrees_config(tmp_path):
    main = repository(tmp_path / "main")
    git("worktree", "add", "-q", "-b", "agent", str(tmp_path / "agent"), cwd=main)
    (main / ".git" / "worktrees" / "agent" / "config.worktree").write_text("")
    worktree = tmp_path / "agent"
    common = git_common_dir(worktree)
    assert common == main / ".git"
    found = protected_paths(worktree, common)
    assert main / ".git" / "hooks" in found and main / ".git" / "config" in found
    assert main / ".git" / "worktrees" / "agent" / "config.worktree" in found


def test_the_common_directory_is_gits_own_answer_with_or_without_asking_git(tmp_path, monkeypatch):
    main = repository(tmp_path / "main")
    assert git_common_dir(main) is None  # its own .git: answered without a git process
    git("worktree", "add", "-q", "-b", "agent", str(tmp_path / "agent"), cwd=main)
    assert git_common_dir(tmp_path / "agent") == main / ".git"  # a .git file: git is asked
    elsewhere = repository(tmp_path / "elsewhere")
    (main / ".git" / "commondir").write_text(f"{elsewhere / '.git'}\n")  # git obeys it: so asked again
    assert git_common_dir(main) == elsewhere / ".git"
    (main / ".git" / "commondir").unlink()
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(elsewhere))
    assert git_common_dir(main) == elsewhere / ".git"  # under GIT_DIR git is asked, and its answer is taken


def test_outside_any_repository_there_is_no_common_directory_and_no_git_process(tmp_path, monkeypatch):
    (tmp_path / "plain").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))  # a git process would fail to start
    assert git_common_dir(tmp_path / "plain") is None


def test_submodules_hooks_and_config_are_protected(tmp_path):
    library = repository(tmp_path / "library")
    project = repository(tmp_path / "project")
    git("submodule", "add", "-q", str(library), "lib", cwd=project)
    git("submodule", "add", "-q", str(library), "vendor/lib", cwd=project)  # a name with a slash
    found = protected_paths(project, None)
    for module in ("lib", "vendor/lib"):
        assert project / ".git" / "modules" / module / "hooks" in found
        assert project / ".git" / "modules" / module / "config" in found


def test_the_plan_mounts_them_read_only_over_the_writable_project(tmp_path):
    project = repository(tmp_path / "project")
    plan = make_plan(engine=Docker(), image="img", project=project, harness="shell", command=["true"],
                     settings_mounts=[], settings_env=[], resources={}, interactive=False, environ={})
    argv = launch_options(plan)
    for path in (project / ".git" / "hooks", project / ".git" / "config"):
        assert f"{path}:{path}:ro" in argv
    assert f"{project}:{project}" in argv


def test_outside_git_nothing_is_added(tmp_path):
    (tmp_path / "plain").mkdir()
    assert protected_paths(tmp_path / "plain", None) == []


def test_with_worktree_config_on_each_trees_config_worktree_is_made_so_that_it_is_protected(tmp_path):
    # Git then obeys .git/config.worktree and .git/worktrees/NAME/config.worktree: one missing would be
    # one a sandbox could create in the writable shared git directory.
    main = repository(tmp_path / "main")
    git("worktree", "add", "-q", "-b", "agent", str(tmp_path / "agent"), cwd=main)
    git("config", "extensions.worktreeConfig", "true", cwd=main)
    found = protected_paths(tmp_path / "agent", main / ".git")
    for config in (main / ".git" / "config.worktree", main / ".git" / "worktrees" / "agent" / "config.worktree"):
        assert config in found and config.read_text() == ""


def test_without_worktree_config_no_config_worktree_is_made(tmp_path):
    main = repository(tmp_path / "main")
    git("worktree", "add", "-q", "-b", "agent", str(tmp_path / "agent"), cwd=main)
    protected_paths(tmp_path / "agent", main / ".git")
    assert not (main / ".git" / "config.worktree").exists()
    assert not (main / ".git" / "worktrees" / "agent" / "config.worktree").exists()
