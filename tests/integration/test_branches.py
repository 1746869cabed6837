"""Agent branches on real engines (Docker as root, rootless Podman as the test user): several sandboxes at
once, each in its own worktree of one project.

Each `exec --branch NAME` works in state_dir()/worktrees/<hash>/NAME, mounted at its path with the
project's shared git directory, so its commits land in the project's repository; the main tree is untouched.
"""

import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aishell_runner.worktrees import project_hash
from tests.integration.conftest import new_sandbox

NAMES = ("a", "b", "c", "d")


@pytest.fixture(scope="module", params=["docker", "rootless-podman"])
def box(request, tmp_path_factory):
    """A git project of the engine's user, with the user's own state directory, named (the tests look for the
    worktrees in it).

    The egress proxy's configuration label covers the state directory: with the one the other sandbox tests use,
    the proxy the first test makes is the one the next module's first launch wants (with a state directory of
    this module's own, that launch made it anew, about 40 s)."""
    box = new_sandbox(request.param, tmp_path_factory.mktemp("branches"))
    box.configure()  # .aishell/ is not committed: the branches use the main tree's settings
    box.env["XDG_STATE_HOME"] = box.shell('printf %s "${XDG_STATE_HOME:-$HOME/.local/state}"').stdout
    root = shlex.quote(str(box.root))
    box.shell(f"git init -q -b main {root} && git -C {root} config user.name T && "
              f"git -C {root} config user.email t@example.org && echo main > {root}/README && "
              f"git -C {root} add README && git -C {root} commit -qm init")
    yield box
    worktrees = Path(box.env["XDG_STATE_HOME"]) / "aishell" / "worktrees" / project_hash(box.root)
    box.shell(f"rm -rf {shlex.quote(str(worktrees))}")
    box.shell(f"rm -rf {root} {shlex.quote(str(box.config_home))}")


def git(box, *args):
    return box.shell(f"git -C {shlex.quote(str(box.root))} {shlex.join(args)}").stdout


def aishell(box, arguments):
    return box.aishell(arguments)


def rows(box):
    run = aishell(box, "branches --json")
    assert run.returncode == 0, run.stderr
    return {row["branch"]: row for row in json.loads(run.stdout)}


def test_four_agents_commit_at_once_each_in_its_own_worktree(box):
    head = git(box, "rev-parse", "HEAD")
    box.shell(f"echo 'main, uncommitted' > {shlex.quote(str(box.root))}/README")

    def work(name):
        inside = f"echo {name} > f && git add f && git commit -qm {name} && cat f README && git log --format=%s"
        return aishell(box, f"exec --branch {name} -- sh -c {shlex.quote(inside)}")

    # All four cold at once (each branch is a new project path), and the user's egress proxy gone, so that
    # each launch would make it anew: they take turns preparing (launch.py) instead of racing.
    # The broker first: it lives in the proxy's network namespace, and Podman refuses to remove the proxy before it.
    box.shell(f"{box.engine} rm --force aishell-broker-$(id -u) && {box.engine} rm --force aishell-egress-$(id -u)")
    started = time.monotonic()
    with ThreadPoolExecutor(len(NAMES)) as pool:
        runs = dict(zip(NAMES, pool.map(work, NAMES), strict=True))
    print(f"{len(NAMES)} sandboxes at once: {time.monotonic() - started:.1f} s")
    uid = int(box.shell("id -u").stdout)
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}: {run.stderr}"
        assert run.stdout.split("\n")[:4] == [name, "main", name, "init"]  # its own change, the commit's README
        tree = Path(rows(box)[name]["path"])
        assert tree.is_relative_to(box.env["XDG_STATE_HOME"])
        assert (tree / "f").read_text() == f"{name}\n" and (tree / "f").stat().st_uid == uid
        assert git(box, "log", "-1", "--format=%s", name).strip() == name  # in the project's repository
    assert git(box, "rev-parse", "HEAD") == head and not (box.root / "f").exists()
    assert (box.root / "README").read_text() == "main, uncommitted\n"
    box.shell(f"echo main > {shlex.quote(str(box.root))}/README")


def test_branches_lists_them(box):
    found = rows(box)
    assert sorted(found) == list(NAMES)
    for row in found.values():
        assert (row["agent"], row["state"], row["ahead"], row["files_changed"]) == ("exec", "idle", 1, 1)


def test_merge_one_then_the_conflicting_other_is_refused_and_aborted(box):
    run = aishell(box, "merge a")
    assert run.returncode == 0, run.stderr
    assert (box.root / "f").read_text() == "a\n"
    head = git(box, "rev-parse", "HEAD")
    run = aishell(box, "merge b")
    assert run.returncode == 1 and "conflicts in: f" in run.stderr
    assert git(box, "rev-parse", "HEAD") == head and git(box, "status", "--porcelain", "-uno") == ""


def test_discard_another(box):
    tree = rows(box)["c"]["path"]
    run = aishell(box, "discard c")
    assert run.returncode == 2 and "--yes" in run.stderr  # not at a terminal
    run = aishell(box, "discard c --yes")
    assert run.returncode == 0, run.stderr
    assert not Path(tree).exists() and "c" not in rows(box)
    assert not git(box, "branch", "--list", "c")


def test_a_branch_with_a_running_sandbox_shows_running_and_is_not_discarded(box):
    tree = rows(box)["d"]["path"]
    # In the background, as the sandbox's user; found again by its command line ([d] keeps the pattern
    # from matching the shell that looks for it).
    started = aishell(box, "exec --branch d -- sleep 60 </dev/null >/dev/null 2>&1 &")
    assert started.returncode == 0, started.stderr
    wrapper = "-u $(id -u) -f 'exec --branch [d] -- sleep 60'"
    try:
        deadline = time.monotonic() + 60
        while rows(box)["d"]["state"] != "running":
            assert time.monotonic() < deadline, "the sandbox of d did not start"
            time.sleep(0.5)
        run = aishell(box, "discard d --yes")
        assert run.returncode == 2 and "a sandbox runs" in run.stderr and Path(tree).is_dir()
    finally:
        box.shell(f"pkill -TERM {wrapper}; while pgrep {wrapper} >/dev/null; do sleep 0.2; done", check=False)
    deadline = time.monotonic() + 30
    while rows(box)["d"]["state"] != "idle":
        assert time.monotonic() < deadline, "the sandbox of d outlived its wrapper"
        time.sleep(0.5)
