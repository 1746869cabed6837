"""Agent branches (aishell_runner/worktrees.py, commands/branches.py) with real git in temporary directories.

Whether a sandbox runs in a worktree is asked of the engines; here it is set by hand (the integration test
tests/integration/test_branches.py has real containers).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aishell_runner import cli, worktrees
from aishell_runner.commands import branches
from aishell_runner.engines.docker import Docker
from aishell_runner.errors import AishellError
from aishell_runner.plan import make_plan
from tests.unit.test_plan import launch_options

REPO = Path(__file__).resolve().parents[2]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "T")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "t@example.org")
    monkeypatch.setattr(branches, "sandbox_paths", lambda: set())  # no engine asked: nothing runs
    root = tmp_path / "my project"  # a space: paths are never split
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README").write_text("hello\n")
    (root / ".gitignore").write_text(".env.local\nbuild/\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    monkeypatch.chdir(root)
    return root


def open_branch(project: Path, name: str, **options) -> Path:
    options.setdefault("base", None)
    options.setdefault("agent", "claude")
    return worktrees.open_branch(project, name, **options)[0]


def commit_in(tree: Path, name: str, text: str) -> None:
    (tree / name).write_text(text)
    git(tree, "add", name)
    git(tree, "commit", "-qm", f"{name}: {text.strip()}")


def aishell(capsys, *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --------------------------------------------------------------------------------------------------- create / resume


def test_a_branch_gets_a_worktree_under_the_state_directory_and_the_main_tree_is_untouched(project, tmp_path):
    (project / "README").write_text("uncommitted work\n")
    tree, note = worktrees.open_branch(project, "fix-login", base=None, agent="claude")
    assert tree == tmp_path / "state" / "aishell" / "worktrees" / worktrees.project_hash(project) / "fix-login"
    assert not tree.is_relative_to(project)
    assert "new worktree" in note
    assert git(tree, "branch", "--show-current") == "fix-login"
    assert (tree / "README").read_text() == "hello\n"  # the commit, not the main tree's work
    assert (project / "README").read_text() == "uncommitted work\n"
    assert git(project, "branch", "--show-current") == "main"
    record = worktrees.known(project, "fix-login")
    assert (record.agent, record.base, record.base_commit) == ("claude", "HEAD", git(project, "rev-parse", "HEAD"))
    assert not Path(record.path, ".aishell-record").exists()  # the record is outside what a sandbox mounts


def test_the_same_name_again_resumes_it(project):
    tree = open_branch(project, "a")
    commit_in(tree, "f", "x\n")
    (tree / "draft").write_text("not committed\n")
    again, note = worktrees.open_branch(project, "a", base=None, agent="codex")
    assert again == tree and note.startswith("branch a: resuming")
    assert (tree / "draft").is_file() and git(tree, "log", "-1", "--format=%s") == "f: x"
    assert worktrees.known(project, "a").agent == "claude"  # what it was made for


def test_from_names_the_base(project):
    first = git(project, "rev-parse", "HEAD")
    commit_in(project, "later", "y\n")
    tree = open_branch(project, "old", base=first)
    assert not (tree / "later").exists()
    assert worktrees.known(project, "old").base_commit == first


def test_gitignored_files_are_copied_only_when_listed(project):
    (project / ".env.local").write_text("TOKEN=local\n")
    (project / "build").mkdir()
    (project / "build" / "out.o").write_text("")
    assert not (open_branch(project, "plain") / ".env.local").exists()  # never by default
    tree = open_branch(project, "with-env", include=(".env.local", "README", "build/"))
    assert (tree / ".env.local").read_text() == "TOKEN=local\n"
    assert (tree / "build" / "out.o").is_file()
    assert (tree / "README").read_text() == "hello\n"  # tracked: the branch's own, never the main tree's


# --------------------------------------------------------------------------------------------------- the sandbox's view


def test_the_plan_mounts_the_worktree_at_its_path_and_protects_the_shared_git_directory(project):
    tree = open_branch(project, "a")
    plan = make_plan(engine=Docker(), image="img", project=tree, harness="shell", command=["true"],
                     settings_mounts=[], settings_env=[], resources={}, interactive=False, environ={})
    argv = launch_options(plan)
    dot_git = project / ".git"
    assert f"{tree}:{tree}" in argv and f"{dot_git}:{dot_git}" in argv
    for path in (dot_git / "hooks", dot_git / "config"):
        assert f"{path}:{path}:ro" in argv
    assert plan.labels["org.aishell.project"] == str(tree)


def test_a_worktrees_own_config_is_protected_when_git_keeps_one(project):
    tree = open_branch(project, "a")
    git(tree, "config", "extensions.worktreeConfig", "true")
    git(tree, "config", "--worktree", "core.editor", "true")
    plan = make_plan(engine=Docker(), image="img", project=tree, harness="shell", command=["true"],
                     settings_mounts=[], settings_env=[], resources={}, interactive=False, environ={})
    own = project / ".git" / "worktrees" / "a" / "config.worktree"
    assert f"{own}:{own}:ro" in launch_options(plan)


# --------------------------------------------------------------------------------------------------- list, diff


def test_branches_lists_agent_state_commits_and_files(project, capsys, monkeypatch):
    tree = open_branch(project, "a")
    commit_in(tree, "one", "1\n")
    commit_in(tree, "two", "2\n")
    (tree / "three").write_text("3\n")
    open_branch(project, "b", agent="exec")
    monkeypatch.setattr(branches, "sandbox_paths", lambda: {str(tree)})
    status, out, _ = aishell(capsys, "branches", "--json")
    assert status == 0
    rows = {row["branch"]: row for row in json.loads(out)}
    assert rows["a"]["agent"] == "claude" and rows["a"]["state"] == "running"
    assert (rows["a"]["ahead"], rows["a"]["files_changed"], rows["a"]["uncommitted"]) == (2, 3, 1)
    assert rows["b"]["state"] == "idle" and rows["b"]["ahead"] == 0 and rows["b"]["agent"] == "exec"
    assert rows["a"]["last_activity"].endswith("Z")
    status, out, _ = aishell(capsys, "branches")
    assert status == 0 and "running" in out and "idle" in out


def test_git_branches_made_by_hand_are_not_agent_branches(project, capsys):
    git(project, "branch", "mine")
    status, out, _ = aishell(capsys, "branches", "--json")
    assert status == 0 and json.loads(out) == []


def test_diff_shows_the_branch_against_its_base(project, capsys):
    tree = open_branch(project, "a")
    commit_in(project, "main-only", "m\n")  # the main tree moved on: not part of the branch's changes
    commit_in(tree, "feature", "f\n")
    (tree / "draft").write_text("d\n")
    # Its own process: git's output, not captured by pytest, goes to a pipe there (so no pager, no colour).
    run = subprocess.run([sys.executable, "-m", "aishell_runner.cli", "diff", "a"], capture_output=True, text=True,
                         cwd=project, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0
    assert "+++ b/feature" in run.stdout and "main-only" not in run.stdout and "\x1b[" not in run.stdout
    assert "1 uncommitted change(s)" in run.stderr
    status, out, _ = aishell(capsys, "diff", "a", "--json")
    document = json.loads(out)
    assert status == 0 and document["files"] == ["feature"] and "+f" in document["patch"]


# --------------------------------------------------------------------------------------------------- merge


def test_merge_brings_the_commits_into_the_current_branch(project, capsys):
    tree = open_branch(project, "a")
    commit_in(tree, "feature", "f\n")
    status, _, err = aishell(capsys, "merge", "a")
    assert status == 0 and "merged a into main" in err
    assert (project / "feature").read_text() == "f\n"


def test_merge_refuses_a_dirty_main_tree_and_changes_nothing(project, capsys):
    tree = open_branch(project, "a")
    commit_in(tree, "feature", "f\n")
    (project / "README").write_text("work in progress\n")
    head = git(project, "rev-parse", "HEAD")
    status, _, err = aishell(capsys, "merge", "a")
    assert status == 2 and "uncommitted changes" in err and "git stash" in err
    assert git(project, "rev-parse", "HEAD") == head and (project / "README").read_text() == "work in progress\n"


def test_a_conflicting_merge_is_refused_and_aborted(project, capsys):
    tree = open_branch(project, "a")
    commit_in(tree, "README", "the agent's\n")
    commit_in(project, "README", "mine\n")
    head = git(project, "rev-parse", "HEAD")
    status, _, err = aishell(capsys, "merge", "a")
    assert status == 1 and "conflicts in: README" in err and "aborted" in err
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain") == "" and not (project / ".git" / "MERGE_HEAD").exists()
    assert (tree / "README").read_text() == "the agent's\n"


def test_merge_of_a_branch_without_commits_is_refused(project, capsys):
    open_branch(project, "a")
    status, _, err = aishell(capsys, "merge", "a")
    assert status == 2 and "no commits beyond its base" in err


def test_merge_refuses_a_detached_head(project, capsys):
    tree = open_branch(project, "a")
    commit_in(tree, "feature", "f\n")
    git(project, "checkout", "-q", "--detach")
    status, _, err = aishell(capsys, "merge", "a")
    assert status == 2 and "detached HEAD" in err and "git switch" in err


# --------------------------------------------------------------------------------------------------- discard


def test_discard_asks_and_refuses_without_a_terminal(project, capsys):
    tree = open_branch(project, "a")
    status, _, err = aishell(capsys, "discard", "a")
    assert status == 2 and "--yes" in err
    assert tree.is_dir() and git(project, "branch", "--list", "a")


def answering(monkeypatch, answer: str) -> list[str]:
    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    from rich.console import Console

    monkeypatch.setattr(Console, "input", lambda self, prompt: asked.append(prompt) or answer)
    return asked


def test_discard_after_yes_at_the_prompt_removes_worktree_and_branch(project, capsys, monkeypatch):
    tree = open_branch(project, "a")
    commit_in(tree, "feature", "f\n")
    asked = answering(monkeypatch, "n")
    assert aishell(capsys, "discard", "a")[0] == 2 and tree.is_dir()
    assert "1 commit(s) not merged" in asked[0]
    answering(monkeypatch, "y")
    assert aishell(capsys, "discard", "a")[0] == 0
    assert not tree.exists() and not git(project, "branch", "--list", "a")
    assert str(tree) not in git(project, "worktree", "list") and worktrees.load(project, "a") is None


def test_discard_yes_in_scripts(project, capsys):
    tree = open_branch(project, "a")
    (tree / "draft").write_text("uncommitted\n")
    status, out, _ = aishell(capsys, "discard", "a", "--yes", "--json")
    assert status == 0 and json.loads(out)["discarded"] == "a" and not tree.exists()
    assert open_branch(project, "a") == tree  # the name is free again


def test_discard_is_refused_while_a_sandbox_runs_in_it(project, capsys, monkeypatch):
    tree = open_branch(project, "a")
    monkeypatch.setattr(branches, "sandbox_paths", lambda: {str(tree)})
    status, _, err = aishell(capsys, "discard", "a", "--yes")
    assert status == 2 and "a sandbox runs" in err and tree.is_dir()


# --------------------------------------------------------------------------------------------------- bad input


def refusal(call) -> AishellError:
    with pytest.raises(AishellError) as caught:
        call()
    assert caught.value.exit_code == 2 and caught.value.hint
    return caught.value


def nothing_made(project: Path) -> bool:
    return not worktrees.records(project) and git(project, "worktree", "list").count("\n") == 0


def test_not_a_git_repository(tmp_path, project):
    plain = tmp_path / "plain"
    plain.mkdir()
    error = refusal(lambda: open_branch(plain, "a"))
    assert "not a git repository" in error.message and str(plain) in error.message


def test_a_bare_repository(tmp_path, project):
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(project), str(bare))
    error = refusal(lambda: open_branch(bare, "a"))
    assert "bare repository" in error.message and "git clone" in error.hint


def test_a_directory_inside_the_repository(project):
    (project / "sub").mkdir()
    error = refusal(lambda: open_branch(project / "sub", "a"))
    assert f"--project {project}" in error.hint


@pytest.mark.parametrize("name", ["has space", "a..b", "-x", "HEAD", "end.lock", "x~1", "@{-1}", "a/", ""])
def test_names_git_would_not_take(project, name):
    error = refusal(lambda: open_branch(project, name))
    assert repr(name) in error.message and "check-ref-format" in error.hint
    assert nothing_made(project)


def test_a_branch_that_exists_but_is_not_ours(project):
    git(project, "branch", "mine")
    error = refusal(lambda: open_branch(project, "mine"))
    assert "'mine' exists already" in error.message and "did not make it" in error.message
    assert nothing_made(project)


def test_a_base_that_is_no_commit(project):
    error = refusal(lambda: open_branch(project, "a", base="no-such-ref"))
    assert "--from no-such-ref" in error.message
    assert nothing_made(project) and not git(project, "branch", "--list", "a")


def test_a_repository_without_commits(tmp_path, project):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert "no commits yet" in refusal(lambda: open_branch(empty, "a")).message


def test_a_worktree_removed_by_hand_is_pruned_and_recreated_from_the_branch(project):
    tree = open_branch(project, "a")
    commit_in(tree, "feature", "f\n")
    subprocess.run(["rm", "-rf", str(tree)], check=True)
    again, note = worktrees.open_branch(project, "a", base=None, agent="claude")
    assert again == tree and "removed by hand" in note
    assert (tree / "feature").read_text() == "f\n"
    assert git(project, "worktree", "list").count(str(tree)) == 1


def test_a_locked_worktree_removed_by_hand_is_not_recreated(project):
    tree = open_branch(project, "a")
    git(project, "worktree", "lock", "--reason", "on a USB disk", str(tree))
    subprocess.run(["rm", "-rf", str(tree)], check=True)
    error = refusal(lambda: open_branch(project, "a"))
    assert "missing and locked (on a USB disk)" in error.message and "worktree unlock" in error.hint
    assert not tree.exists()


def test_a_locked_worktree_is_not_discarded(project, capsys):
    tree = open_branch(project, "a")
    git(project, "worktree", "lock", str(tree))
    status, _, err = aishell(capsys, "discard", "a", "--yes")
    assert status == 2 and "is locked" in err and "worktree unlock" in err and tree.is_dir()


def test_a_worktree_whose_git_pointer_was_changed_is_not_launched(project, tmp_path):
    tree = open_branch(project, "a")
    (tree / ".git").write_text(f"gitdir: {tmp_path}\n")  # what a sandbox could do to reach more of the host
    error = refusal(lambda: open_branch(project, "a"))
    assert "no longer points at" in error.message and "worktree repair" in error.hint


def test_a_branch_deleted_by_hand(project):
    tree = open_branch(project, "a")
    git(project, "worktree", "remove", "--force", str(tree))
    git(project, "branch", "-D", "a")
    assert "deleted by hand" in refusal(lambda: open_branch(project, "a")).message


@pytest.mark.parametrize("command", ["diff", "merge", "discard"])
def test_commands_on_a_name_that_is_no_agent_branch(project, capsys, command):
    git(project, "branch", "mine")
    status, _, err = aishell(capsys, command, "mine", *(["--yes"] if command == "discard" else []))
    assert status == 2 and "'mine' is not an agent branch" in err and "aishell-run branches" in err
    assert git(project, "branch", "--list", "mine")


def test_from_without_branch_is_a_usage_error(project, capsys):
    status, _, err = aishell(capsys, "exec", "--from", "HEAD", "--", "true")
    assert status == 2 and "--from HEAD needs --branch" in err


def test_a_name_with_slashes(project, capsys):
    tree = open_branch(project, "feature/x")
    commit_in(tree, "f", "1\n")
    assert tree.name == "x" and tree.parent.name == "feature"
    status, out, _ = aishell(capsys, "branches", "--json")
    assert status == 0 and [row["branch"] for row in json.loads(out)] == ["feature/x"]
    assert aishell(capsys, "merge", "feature/x")[0] == 0


def test_listing_never_obeys_a_git_configuration_the_worktree_points_at(project, tmp_path, capsys):
    # A sandbox can rewrite its worktree's `.git`; the host's git must not follow it to a configuration
    # that runs a program (core.fsmonitor) at the next `aishell-run branches`.
    tree = open_branch(project, "a")
    (tree / "draft").write_text("d\n")
    evil = tmp_path / "evil"
    git(tmp_path, "init", "-q", str(evil))
    marker = tmp_path / "ran"
    git(evil, "config", "core.fsmonitor", f"touch '{marker}'; false")
    (tree / ".git").write_text(f"gitdir: {evil / '.git'}\n")
    status, out, _ = aishell(capsys, "branches", "--json")
    assert status == 0 and json.loads(out)[0]["uncommitted"] == 1
    assert not marker.exists()
    subprocess.run(["git", "-C", str(tree), "status"], capture_output=True)  # what the test guards against
    assert marker.exists()


# --------------------------------------------------------------------------------------------------- the launch


def test_a_launch_with_branch_plans_the_worktree_with_the_main_trees_settings(project, monkeypatch, tmp_path):
    from aishell_runner.commands import launch

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user settings of this machine
    monkeypatch.setattr(launch, "choose_engine", lambda setting: Docker())
    (project / ".aishell").mkdir()
    (project / ".aishell" / "config.yaml").write_text("env: [FROM_MAIN=1]\nnetwork: {mode: none}\n")
    args = cli.build_parser(["exec"]).parse_args(["exec", "--branch", "a", "--", "true"])
    plan = launch.prepare(args).plan
    tree = worktrees.tree_path(project, "a")
    assert plan.project == str(tree) and plan.labels["org.aishell.project"] == str(tree)
    assert plan.literal_env["FROM_MAIN"] == "1"  # the settings are the main tree's (not committed here)
    assert worktrees.known(project, "a").agent == "exec"
    assert launch.prepare(args).plan.project == str(tree)  # again: resumed


def test_a_failed_checkout_leaves_no_branch_behind(project, monkeypatch):
    real = worktrees.git

    def failing(cwd, *args, **kwargs):  # git worktree add failing after it made the branch
        if args[:2] == ("worktree", "add"):
            real(cwd, "branch", args[3], args[5])
            return subprocess.CompletedProcess(args, 128, "", "fatal: could not check out\n")
        return real(cwd, *args, **kwargs)

    monkeypatch.setattr(worktrees, "git", failing)
    with pytest.raises(AishellError) as caught:
        open_branch(project, "a")
    assert "could not check out" in caught.value.message and "nothing was created" in caught.value.hint
    assert not git(project, "branch", "--list", "a") and nothing_made(project)
