"""The remembered walk: a directory is listed again exactly when its ctime says it may have changed, and a
warm walk finds what a fresh one finds, whatever happened to the tree (or to the cache) in between."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

import pytest

from aishell_runner.scan import NameRules, Rule, scan_tree
from aishell_runner.scan.exclude import excluded_paths
from aishell_runner.scan.walk import tree_cache
from tests.unit.test_scan_bad_input import write

walk = importlib.import_module("aishell_runner.scan.walk")  # the module (the package's `walk` is its function)

PRIVATE = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for relative in ("a.py", "src/b.py", "src/deep/c.py", "docs/index.md", "certs/server.pem"):
        write(root / relative, CERTIFICATE if relative.endswith(".pem") else "x = 1\n")
    write(root / "node_modules" / "pkg" / "index.js")
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The directories each walk lists (rather than takes from the cache)."""
    seen: list[str] = []
    real = walk._list

    def spy(relative: str, directory: str, ctime: int):
        seen.append(relative)
        return real(relative, directory, ctime)

    monkeypatch.setattr(walk, "_list", spy)
    return seen


def fresh(root: Path):
    return walk.walk(str(root))


def same(one, other) -> bool:
    return ([f.relative for f in one.files], one.skipped) == ([f.relative for f in other.files], other.skipped)


def changed_later() -> None:
    """Timestamps are coarse (a clock tick): a change made right after a listing may carry its ctime."""
    time.sleep(0.05)


def test_a_warm_walk_lists_no_directory_and_finds_the_same(tree: Path, cache: Path, listed, settled) -> None:
    first = walk.walk(str(tree), tree_cache(cache, str(tree)))
    first.save()
    assert sorted(listed) == ["", "certs", "docs", "src", "src/deep"]
    listed.clear()
    again = walk.walk(str(tree), tree_cache(cache, str(tree)))
    assert listed == []
    assert not again.dirty  # nothing to write either
    assert same(again, first) and same(again, fresh(tree))


@pytest.mark.parametrize("change", ["add", "remove", "rename", "mkdir", "rmdir", "unreadable", "venv", "fifo"])
def test_each_change_is_found_by_the_next_walk(tree: Path, cache: Path, listed, settled, change: str) -> None:
    walk.walk(str(tree), tree_cache(cache, str(tree))).save()
    changed_later()
    deep = tree / "src" / "deep"
    if change == "add":
        write(deep / ".env", "A=1\n")
    elif change == "remove":
        (deep / "c.py").unlink()
    elif change == "rename":
        (deep / "c.py").rename(deep / "id_rsa")
    elif change == "mkdir":
        write(deep / "new" / "d.py")
    elif change == "rmdir":
        (tree / "docs" / "index.md").unlink()
        (tree / "docs").rmdir()
    elif change == "unreadable":
        deep.chmod(0o000)
    elif change == "venv":
        write(deep / "pyvenv.cfg", "home = /usr\n")
    else:
        os.mkfifo(deep / "pipe")
    listed.clear()
    try:
        warm = walk.walk(str(tree), tree_cache(cache, str(tree)))
        assert set(listed) <= {"src", "src/deep", "src/deep/new", "", "docs"}  # only what changed, not the rest
        assert same(warm, fresh(tree))
    finally:
        deep.chmod(0o755)


def test_a_directory_changed_in_the_moment_of_its_listing_is_listed_again(tree: Path, cache: Path, listed) -> None:
    walk.walk(str(tree), tree_cache(cache, str(tree))).save()  # every directory is a moment old: racy
    write(tree / "src" / ".env", "A=1\n")  # within the same clock tick, perhaps: same ctime
    listed.clear()
    warm = walk.walk(str(tree), tree_cache(cache, str(tree)))
    assert "src" in listed and ".env" in [f.relative.rpartition("/")[2] for f in warm.files]


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"[]", b'{"version": 1}', b'{"version": 1, "root": 3}',
                                     b'{"version": 1, "root": "R", "started": 0, "memo": {}, "listings": 4}',
                                     b'{"version": 1, "root": "R", "started": 0, "memo": [], "listings": {}}',
                                     b'{"version": 1, "root": "R", "started": 0, "memo": {}, "listings": '
                                     b'{"": {"ctime": 1}}}',
                                     b'{"version": 1, "root": "R", "started": "x", "memo": {}, "listings": {}}'])
def test_a_damaged_cache_costs_a_full_walk_never_a_wrong_one(tree: Path, cache: Path, garbage: bytes) -> None:
    walk.walk(str(tree), tree_cache(cache, str(tree))).save()
    tree_cache(cache, str(tree)).write_bytes(garbage.replace(b'"R"', f'"{tree}"'.encode()))
    warm = walk.walk(str(tree), tree_cache(cache, str(tree)))
    assert same(warm, fresh(tree))


def test_a_damaged_memo_of_verdicts_is_judged_anew(tree: Path, cache: Path, settled) -> None:
    scan_tree(tree, content=False, cache_dir=cache)
    remembered = walk.walk(str(tree), tree_cache(cache, str(tree)))
    remembered.memo["names"] = {"rules": NameRules().fingerprint, "by_name": {}, "sniffed": {"certs/server.pem": 5}}
    remembered.dirty = True
    remembered.save()
    found = scan_tree(tree, content=False, cache_dir=cache).findings
    assert [(f.path, f.severity) for f in found] == [("certs/server.pem", "medium")]


def test_a_sniffed_file_rewritten_in_place_is_judged_again(tree: Path, cache: Path, settled) -> None:
    assert [(f.path, f.rule) for f in scan_tree(tree, content=False, cache_dir=cache).findings] == \
        [("certs/server.pem", "key-file")]
    changed_later()
    (tree / "certs" / "server.pem").write_text(PRIVATE)  # same directory entries: only the file changed
    assert [(f.path, f.rule) for f in scan_tree(tree, content=False, cache_dir=cache).findings] == \
        [("certs/server.pem", "private-key-file")]


def test_other_rules_are_not_answered_from_the_memo(tree: Path, cache: Path, settled) -> None:
    scan_tree(tree, content=False, cache_dir=cache)
    custom = NameRules([Rule("docs", "high", ("docs/**",))])
    assert [(f.path, f.rule) for f in scan_tree(tree, rules=custom, content=False, cache_dir=cache).findings] == \
        [("docs/index.md", "docs"), ("certs/server.pem", "key-file")]


def test_exclude_is_answered_from_the_walk_and_follows_its_changes(tree: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, settled) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    patterns = ["*.pem", "docs/", "node_modules"]
    expected = [tree / "docs", tree / "node_modules", tree / "certs" / "server.pem"]
    assert excluded_paths(tree, patterns) == expected
    assert excluded_paths(tree, patterns) == expected  # warm: from the memo
    changed_later()
    write(tree / "src" / "deep" / "other.pem", CERTIFICATE)
    assert excluded_paths(tree, patterns) == [*expected, tree / "src" / "deep" / "other.pem"]
    assert excluded_paths(tree, ["*.md"]) == [tree / "docs" / "index.md"]
