"""The watcher's journal (watch.py): with it, a scan finds exactly what the full path (every file stat-ed) finds,
after every kind of change; and wherever the journal cannot vouch, the scan takes the full path.

Real trees, real watcher processes, real inotify; each test stops the watchers it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aishell_runner.scan import NameRules, ScanResult, exclude, memo, scan_tree, walk, watch
from aishell_runner.scan.exclude import excluded_paths
from tests.unit.test_scan_bad_input import NOBODY, write

PRIVATE = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
AWS = 'aws_key = "AKIAZ7Q3XK4M2PLW9RTB"\n'

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="inotify: Linux only")


@pytest.fixture(autouse=True)
def no_gitleaks(monkeypatch: pytest.MonkeyPatch) -> None:
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if not os.path.exists(os.path.join(d, "gitleaks"))]
    monkeypatch.setenv("PATH", os.pathsep.join(path))


class Project:
    """A tree, its cache, and its watcher (started as a large tree's would be, stopped at the end)."""

    def __init__(self, base: Path):
        self.root = base / "project"
        self.cache = base / "xdg" / "aishell" / "scan"  # paths.cache_dir() / "scan", with XDG_CACHE_HOME
        self.full_cache = base / "full-cache"
        for relative in ("a.py", "src/b.py", "src/deep/c.py", "docs/index.md", "data/config.json", "keep/k.py"):
            write(self.root / relative, "x = 1\n")
        write(self.root / "secrets" / "id_rsa", PRIVATE)
        write(self.root / "secrets" / "aws.py", AWS)
        write(self.root / "node_modules" / "pkg" / ".env", "A=1\n")
        os.symlink("a.py", self.root / "link.py")
        os.symlink("/nonexistent/target", self.root / "broken")

    def scan(self, **kwargs) -> ScanResult:
        return scan_tree(self.root, cache_dir=self.cache, **kwargs)

    def full(self) -> ScanResult:
        return scan_tree(self.root, cache_dir=self.full_cache, watch=False)

    def journal(self) -> watch.Journal | str:
        return watch.sync(str(self.root), self.cache)

    def memo_token(self) -> list | None:
        found = memo.load(memo.memo_path(self.cache, str(self.root), True), str(self.root),
                          NameRules().fingerprint, True)
        return found and found["watch"]

    def start(self) -> None:
        """The first scan starts the watcher; the one after its watches are in place pairs the caches with it."""
        self.scan()
        deadline = time.monotonic() + 20
        while not isinstance(self.journal(), watch.Journal):
            assert time.monotonic() < deadline, "the watcher never answered"
            time.sleep(0.05)
        self.scan()
        journal = self.journal()
        assert isinstance(journal, watch.Journal) and journal.since(self.memo_token()) == set()

    def pid(self) -> int:
        return watch._ask(str(watch.socket_path(self.cache, str(self.root))), {"op": "sync"})["pid"]

    def stop(self) -> None:
        pid = watch.stop(str(self.root), self.cache)
        if pid:
            gone(pid)


def gone(pid: int) -> None:
    """Waits until the process has exited (a zombie of this process counts: it is reaped here)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not our child
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    if handle.read().rpartition(")")[2].split()[0] == "Z":
                        return
            except OSError:
                return
        time.sleep(0.02)
    raise AssertionError(f"the watcher {pid} did not exit")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setattr(watch, "WATCH_FROM", 0)  # every tree counts as large here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # where excluded_paths keeps its caches
    made = Project(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def same(project: Project) -> ScanResult:
    """The scan through the journal, checked equal to the full path's."""
    fast, full = project.scan(), project.full()
    assert (fast.findings, fast.skipped, fast.files, fast.binary_files) == \
        (full.findings, full.skipped, full.files, full.binary_files)
    return fast


def paths(result: ScanResult) -> set[str]:
    return {finding.path for finding in result.findings}


# ----------------------------------------------------------------------------------------- the same findings


def test_an_unchanged_tree_is_answered_from_the_memo(project: Project) -> None:
    project.start()
    before = same(project)
    assert paths(before) == {"secrets/id_rsa", "secrets/aws.py"}
    assert {s.path for s in before.skipped} == {"node_modules", "broken"}
    os.remove(project.root / "a.py")  # the symlink's target, outside any event of the link itself
    os.symlink("a.py", project.root / "a2")
    assert "link.py" in {s.path for s in same(project).skipped}


CHANGES = {
    "content": lambda root: (root / "keep" / "k.py").write_text(AWS),
    "add": lambda root: write(root / "src" / "deep" / ".env", "A=1\n"),
    "remove": lambda root: (root / "secrets" / "id_rsa").unlink(),
    "rename": lambda root: (root / "src" / "deep" / "c.py").rename(root / "src" / "deep" / "id_rsa"),
    "rename onto": lambda root: (root / "secrets" / "aws.py").replace(root / "keep" / "k.py"),
    "mkdir": lambda root: write(root / "new" / "deeper" / "server.pem", PRIVATE),
    "rename dir": lambda root: (root / "secrets").rename(root / "moved"),
    "rename dir into a vendored name": lambda root: (root / "secrets").rename(root / "node_modules" / "secrets"),
    "rename dir out of a vendored name": lambda root: (root / "node_modules").rename(root / "modules"),
    "swap dirs": lambda root: ((root / "secrets").rename(root / "swap"), (root / "keep").rename(root / "secrets"),
                               (root / "swap").rename(root / "keep")),
    "rmdir": lambda root: shutil.rmtree(root / "secrets"),
    "venv": lambda root: write(root / "secrets" / "pyvenv.cfg", "home = /usr\n"),
    "chmod": lambda root: (root / "data" / "config.json").chmod(0o000),
    "sniffed rewrite": lambda root: (root / "data" / "config.json").write_text(PRIVATE),
    "symlink": lambda root: os.symlink("/etc", root / "src" / "etc"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_after_each_kind_of_change_the_findings_are_the_full_paths(project: Project, change: str) -> None:
    project.start()
    before = paths(same(project))
    CHANGES[change](project.root)  # right before the scan: the cookie makes the watcher read it first
    after = same(project)
    if change not in ("chmod", "symlink"):
        assert paths(after) != before, "a change the test meant to show in the findings"
    assert paths(same(project)) == paths(after)  # and again, from the memo


def test_a_change_made_while_no_scan_runs_and_several_in_a_row(project: Project) -> None:
    project.start()
    write(project.root / "later" / ".env", "A=1\n")
    time.sleep(0.3)
    assert "later/.env" in paths(same(project))
    name = project.root / "later" / ".env"
    for round_ in range(3):
        write(project.root / "src" / f"r{round_}.py", AWS)
        name = name.rename(project.root / "later" / f"env{round_}.key")
        assert {f"src/r{round_}.py", f"later/env{round_}.key"} <= paths(same(project))


def test_a_write_through_a_second_link_is_not_missed(project: Project) -> None:
    project.start()
    os.link(project.root / "keep" / "k.py", project.root / "alias.py")
    with open(project.root / "alias.py", "a") as handle:
        handle.write(AWS)
    os.unlink(project.root / "alias.py")  # the journal names only alias.py, gone: keep/k.py changed unseen
    assert "keep/k.py" in paths(same(project))
    write(project.root / "keep" / "k.py", "x = 1\n")
    os.link(project.root / "keep" / "k.py", project.root / "alias.py")  # kept: both names have two links now
    assert "keep/k.py" not in paths(same(project))
    os.rename(project.root / "alias.py", project.cache.parent / "outside.py")  # the second link leaves the tree
    same(project)
    with open(project.cache.parent / "outside.py", "a") as handle:  # no event in the tree at all
        handle.write(AWS)
    assert "keep/k.py" in paths(same(project))  # a file with two links is stat-ed at every scan


def test_exclude_follows_the_journal(project: Project) -> None:
    project.start()
    patterns = ["*.pem", "secrets/", ".env"]

    def fresh() -> list[Path]:
        matched = exclude._matched(walk(str(project.root)), patterns)
        return sorted((project.root / relative for relative in matched), key=lambda p: (len(p.parts), str(p)))

    assert excluded_paths(project.root, patterns) == fresh() == [project.root / "secrets"]
    assert excluded_paths(project.root, patterns) == fresh()  # from its memo
    for change in ("add", "mkdir", "rename dir", "chmod"):
        CHANGES[change](project.root)
        assert excluded_paths(project.root, patterns) == fresh()
        assert excluded_paths(project.root, patterns) == fresh()


# --------------------------------------------------------------------------------------- the full path instead


def test_a_full_pass_at_least_every_trust_for(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.start()
    full_at = project.memo_token()[2]
    write(project.root / ".env", "A=1\n")
    assert ".env" in paths(same(project))
    assert project.memo_token()[2] == full_at  # only what changed was looked at: the full pass stays the last one
    monkeypatch.setattr(watch, "TRUST_FOR", time.time() - full_at - 0.001)
    assert project.journal().since(project.memo_token()) is None  # too old: a full pass now
    assert ".env" in paths(same(project))
    assert project.memo_token()[2] > full_at
    assert project.journal().since(project.memo_token()) == set()


@pytest.mark.parametrize("garbage", [b"", b"[]", b'{"version": 1}',
                                     b'{"version": 1, "root": "R", "rules": "F", "content": true, '
                                     b'"watch": ["G", 1, 0.5], "findings": [[1]]}'])
def test_a_damaged_memo_or_token_costs_a_fuller_scan_never_a_wrong_one(project: Project, garbage: bytes) -> None:
    project.start()
    journal = project.journal()
    memo_file = memo.memo_path(project.cache, str(project.root), True)
    memo_file.write_bytes(garbage.replace(b'"R"', f'"{project.root}"'.encode())
                          .replace(b'"F"', f'"{NameRules().fingerprint}"'.encode())
                          .replace(b'"G"', f'"{journal.token[0]}"'.encode()))
    write(project.root / ".env", "A=1\n")
    assert ".env" in paths(same(project))
    for token in (None, [], ["x", 1, 0.0], [journal.token[0], "1", 0.0], [journal.token[0], 10**9, time.time()],
                  [journal.token[0], 1, time.time() + 10**6]):
        assert project.journal().since(token) is None


def test_a_watcher_that_died_means_the_full_path_and_a_new_watcher(project: Project) -> None:
    project.start()
    pid = project.pid()
    os.kill(pid, signal.SIGKILL)
    gone(pid)
    write(project.root / ".env", "A=1\n")
    assert project.journal() == "absent"
    assert ".env" in paths(same(project))  # and it starts another watcher, of another generation
    deadline = time.monotonic() + 20
    while not isinstance(journal := project.journal(), watch.Journal):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert journal.since(project.memo_token()) is None  # a memo of the dead watcher's generation: not vouched
    write(project.root / "src" / ".env", "A=1\n")
    assert "src/.env" in paths(same(project))


def test_a_watcher_that_does_not_answer_in_time_means_the_full_path(project: Project, monkeypatch) -> None:
    project.start()
    monkeypatch.setattr(watch, "ANSWER_TIMEOUT", 0.2)  # the scan's patience, not the watcher's
    pid = project.pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        write(project.root / ".env", "A=1\n")
        assert project.journal() == "no answer in time"
        assert ".env" in paths(same(project))
    finally:
        os.kill(pid, signal.SIGCONT)


def test_an_overflowed_event_queue_means_the_full_path(project: Project) -> None:
    project.start()
    pid = project.pid()
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        first, second = project.root / "src" / "b.py", project.root / "docs" / "index.md"
        for _ in range(limit // 2 + 10):  # events alternate between two files, so none is merged
            os.utime(first)
            os.utime(second)
        write(project.root / "src" / ".env", "A=1\n")
    finally:
        os.kill(pid, signal.SIGCONT)
    journal = project.journal()
    assert isinstance(journal, watch.Journal) and journal.since(project.memo_token()) is None
    assert "src/.env" in paths(same(project))
    assert project.journal().since(project.memo_token()) == set()  # that full scan is vouched for again


def test_a_mount_point_inside_the_tree_means_the_full_path(project: Project) -> None:
    project.start()
    inside = project.root / "mnt"
    inside.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "none", str(inside)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount here")
    try:
        write(inside / ".env", "A=1\n")
        assert "a mount point inside the tree" in project.journal()
        assert "mnt/.env" in paths(same(project))
    finally:
        subprocess.run(["umount", str(inside)], check=True)


def test_a_filesystem_outside_the_allowlist_is_never_vouched_for(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "tree" / "a.py")
    monkeypatch.setattr(watch, "LOCAL_FS", {})
    with pytest.raises(watch.Broken, match="filesystem"):
        watch.Watcher(str(tmp_path / "tree"))
    if not Path("/proc/filesystems").read_text().count("ramfs"):
        return
    ramfs = tmp_path / "ramfs"
    ramfs.mkdir()
    if subprocess.run(["mount", "-t", "ramfs", "none", str(ramfs)], capture_output=True).returncode != 0:
        return
    try:
        monkeypatch.undo()
        with pytest.raises(watch.Broken, match="filesystem"):
            watch.Watcher(str(ramfs))
    finally:
        subprocess.run(["umount", str(ramfs)], check=True)


def test_an_unreadable_directory_is_never_vouched_for(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to become another user")
    base = Path(tempfile.mkdtemp(prefix="aishell-watch-"))
    try:
        base.chmod(0o755)
        write(base / "tree" / "open" / "a.py")
        (base / "tree" / "locked").mkdir(mode=0o000)
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                watch.Watcher(str(base / "tree"))
            except watch.Broken as why:
                code = 0 if "locked" in str(why) else 2
            finally:
                os._exit(code)
        assert os.waitpid(pid, 0)[1] == 0
    finally:
        (base / "tree" / "locked").chmod(0o755)
        shutil.rmtree(base)


def test_the_root_removed_ends_the_watcher(project: Project) -> None:
    project.start()
    pid = project.pid()
    shutil.rmtree(project.root)
    project.root.mkdir()  # another directory at the same path
    assert project.journal() == "absent" or not isinstance(project.journal(), watch.Journal)
    gone(pid)
    assert scan_tree(project.root, cache_dir=project.cache).findings == []
    deadline = time.monotonic() + 20  # that scan started another watcher: stopped once it answers
    while not isinstance(project.journal(), watch.Journal):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_small_trees_get_no_watcher(tmp_path: Path) -> None:
    write(tmp_path / "tree" / "a.py")
    scan_tree(tmp_path / "tree", cache_dir=tmp_path / "cache")
    time.sleep(0.2)
    assert watch.sync(str(tmp_path / "tree"), tmp_path / "cache") == "absent"
