"""Whether git tracks or ignores each finding's file (None outside a git work tree).

Which files git tracks is in its index, which `ls-files` reads whole: on a repository of 100,000 files that is a
10 MB read, 50 ms of every launch. The answer is remembered beside the scan's other caches under the index
file's stat (git writes a new index by a rename: a new inode), and asked again whenever the index, the root or
the findings' paths differ. The ignore rules are asked every time (without the index they cost git little).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

from ..cache_files import save_json
from ..project import GIT_LOCATION_VARIABLES
from .findings import Finding
from .walk import tree_cache


def _git(root: str, *args: str | bytes, paths: list[str]) -> set[str] | None:
    run = subprocess.run(["git", "-C", root, *args],
                         input=b"\0".join(map(os.fsencode, paths)), capture_output=True)
    if run.returncode not in (0, 1):  # check-ignore answers 1 when nothing is ignored
        return None
    return {os.fsdecode(path) for path in run.stdout.split(b"\0") if path}


def with_git_status(root: str, findings: list[Finding], cache_dir: Path | None = None) -> list[Finding]:
    paths = sorted({finding.path for finding in findings})
    if not paths:
        return findings
    tracked = _tracked(root, paths, cache_dir)
    if tracked is None:
        return findings
    # Which of them the ignore rules match, through stdin. --no-index: check-ignore need not read the index
    # again; a tracked file is never ignored, as git itself has it.
    ignored = _git(root, "check-ignore", "--no-index", "-z", "--stdin", paths=paths)
    if ignored is None:
        return findings
    return [f._replace(tracked=f.path in tracked, ignored=f.path in ignored - tracked) for f in findings]


def _tracked(root: str, paths: list[str], cache_dir: Path | None) -> set[str] | None:
    """Which of `paths` git tracks; None outside a work tree."""
    memo_file = _memo_path(cache_dir, root) if cache_dir else None
    key = _index_key(root)
    if memo_file and key:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):  # none yet, or damaged: git is asked
            memo = json.loads(memo_file.read_bytes())
            if memo["key"] == key and memo["root"] == root and memo["paths"] == paths:
                return set(memo["tracked"])
    # Given as literal pathspecs (no glob or `:` magic), in batches that stay far below the argument limit.
    # Outside a work tree ls-files fails, and nothing is said.
    batches = [_git(root, "--literal-pathspecs", "ls-files", "-z", "--", *map(os.fsencode, paths[start:start + 500]),
                    paths=[])
               for start in range(0, len(paths), 500)]
    if None in batches:
        return None
    tracked = set().union(*batches)
    if memo_file and key and key == _index_key(root):  # the index did not change while git read it
        save_json(memo_file, {"key": key, "root": root, "paths": paths, "tracked": sorted(tracked)})
    return tracked


def _memo_path(cache_dir: Path, root: str) -> Path:
    tree = tree_cache(cache_dir, root)
    return tree.with_name(tree.name.replace(".tree.json", ".git.json"))


def _index_key(root: str) -> list[int] | None:
    """The stat of the index git reads for `root` when `root` is the top of a work tree with an ordinary `.git`
    directory; None where finding it would take git itself (a linked worktree, a subdirectory, GIT_DIR or
    GIT_INDEX_FILE set): those ask ls-files every time."""
    if (GIT_LOCATION_VARIABLES | {"GIT_INDEX_FILE"}) & os.environ.keys():
        return None
    try:
        index = os.stat(os.path.join(root, ".git", "index"))
    except OSError:  # no index yet, `.git` a file (a linked worktree), or not a work tree's top
        return None
    return [index.st_dev, index.st_ino, index.st_size, index.st_mtime_ns, index.st_ctime_ns]
