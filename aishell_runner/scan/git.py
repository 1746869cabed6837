"""Whether git tracks or ignores each finding's file (None outside a git work tree)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace

from .findings import Finding


def _git(root: str, *args: str | bytes, paths: list[str]) -> set[str] | None:
    run = subprocess.run(["git", "-C", root, *args],
                         input=b"\0".join(map(os.fsencode, paths)), capture_output=True)
    if run.returncode not in (0, 1):  # check-ignore answers 1 when nothing is ignored
        return None
    return {os.fsdecode(path) for path in run.stdout.split(b"\0") if path}


def with_git_status(root: str, findings: list[Finding]) -> list[Finding]:
    paths = sorted({finding.path for finding in findings})
    if not paths:
        return findings
    # Which of the findings' paths git tracks: given as literal pathspecs (no glob or `:` magic), in batches
    # that stay far below the argument limit. Outside a work tree ls-files fails, and nothing is said.
    batches = [_git(root, "--literal-pathspecs", "ls-files", "-z", "--", *map(os.fsencode, paths[start:start + 500]),
                    paths=[])
               for start in range(0, len(paths), 500)]
    if None in batches:
        return findings
    tracked = set().union(*batches)
    # Which of them the ignore rules match, through stdin. --no-index: check-ignore need not read the index
    # again (on a large repository that read is most of its time); a tracked file is never ignored, as git
    # itself has it.
    ignored = _git(root, "check-ignore", "--no-index", "-z", "--stdin", paths=paths)
    if ignored is None:
        return findings
    return [replace(f, tracked=f.path in tracked, ignored=f.path in ignored - tracked) for f in findings]
