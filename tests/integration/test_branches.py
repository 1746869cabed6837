"""Agent branches on a real Docker Engine: several sandboxes at once, each in its own worktree of one project.

Each `exec --branch NAME` works in state_dir()/worktrees/<hash>/NAME, mounted at its path with the
project's shared git directory, so its commits land in the project's repository; the main tree is untouched.
"""

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.test_sandbox_launch import AISHELL_RUN, CONFIG, aishell

NAMES = ("a", "b", "c", "d")


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("branches") / "my project"
    root.mkdir()
    (root / ".aishell").mkdir()
    (root / ".aishell" / "config.yaml").write_text(CONFIG)  # not committed: the branches use the main tree's
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for key, value in (("user.name", "T"), ("user.email", "t@example.org")):
        subprocess.run(["git", "-C", str(root), "config", key, value], check=True)
    (root / "README").write_text("main\n")
    subprocess.run(["git", "-C", str(root), "add", "README"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "init"], check=True)
    return root


def git(project, *args):
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=True).stdout


def rows(project, state):
    run = aishell(project, state, "branches", "--json")
    assert run.returncode == 0, run.stderr
    return {row["branch"]: row for row in json.loads(run.stdout)}


def test_four_agents_commit_at_once_each_in_its_own_worktree(project, state):
    head = git(project, "rev-parse", "HEAD")
    (project / "README").write_text("main, uncommitted\n")

    def work(name):
        inside = f"echo {name} > f && git add f && git commit -qm {name} && cat f README && git log --format=%s"
        return aishell(project, state, "exec", "--branch", name, "--", "sh", "-c", inside)

    # All four cold at once (each branch is a new project path), and the user's egress proxy gone, so that
    # each launch would make it anew: they take turns preparing (launch.py) instead of racing.
    subprocess.run(["docker", "rm", "--force", f"aishell-egress-{os.getuid()}"], capture_output=True, check=True)
    started = time.monotonic()
    with ThreadPoolExecutor(len(NAMES)) as pool:
        runs = dict(zip(NAMES, pool.map(work, NAMES), strict=True))
    print(f"{len(NAMES)} sandboxes at once: {time.monotonic() - started:.1f} s")
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}: {run.stderr}"
        assert run.stdout.split("\n")[:4] == [name, "main", name, "init"]  # its own change, the commit's README
        tree = Path(rows(project, state)[name]["path"])
        assert tree.is_relative_to(state)
        assert (tree / "f").read_text() == f"{name}\n" and (tree / "f").stat().st_uid == os.getuid()
        assert git(project, "log", "-1", "--format=%s", name).strip() == name  # in the project's repository
    assert git(project, "rev-parse", "HEAD") == head and not (project / "f").exists()
    assert (project / "README").read_text() == "main, uncommitted\n"
    (project / "README").write_text("main\n")


def test_branches_lists_them(project, state):
    found = rows(project, state)
    assert sorted(found) == list(NAMES)
    for row in found.values():
        assert (row["agent"], row["state"], row["ahead"], row["files_changed"]) == ("exec", "idle", 1, 1)


def test_merge_one_then_the_conflicting_other_is_refused_and_aborted(project, state):
    run = aishell(project, state, "merge", "a")
    assert run.returncode == 0, run.stderr
    assert (project / "f").read_text() == "a\n"
    head = git(project, "rev-parse", "HEAD")
    run = aishell(project, state, "merge", "b")
    assert run.returncode == 1 and "conflicts in: f" in run.stderr
    assert git(project, "rev-parse", "HEAD") == head and git(project, "status", "--porcelain", "-uno") == ""


def test_discard_another(project, state):
    tree = rows(project, state)["c"]["path"]
    run = aishell(project, state, "discard", "c")
    assert run.returncode == 2 and "--yes" in run.stderr  # not at a terminal
    run = aishell(project, state, "discard", "c", "--yes")
    assert run.returncode == 0, run.stderr
    assert not os.path.exists(tree) and "c" not in rows(project, state)
    assert not git(project, "branch", "--list", "c")


def test_a_branch_with_a_running_sandbox_shows_running_and_is_not_discarded(project, state):
    tree = rows(project, state)["d"]["path"]
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    session = subprocess.Popen([AISHELL_RUN, "exec", "--branch", "d", "--", "sleep", "60"], cwd=project, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while rows(project, state)["d"]["state"] != "running":
            assert time.monotonic() < deadline, "the sandbox of d did not start"
            time.sleep(0.5)
        run = aishell(project, state, "discard", "d", "--yes")
        assert run.returncode == 2 and "a sandbox runs" in run.stderr and os.path.isdir(tree)
    finally:
        session.send_signal(signal.SIGTERM)
        session.wait(timeout=30)
    assert rows(project, state)["d"]["state"] == "idle"
