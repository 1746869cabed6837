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
    inside = subprocess.run(["git", "-C", root, "rev-parse", "--is-inside-work-tree"], capture_output=True)
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        return findings
    # Which of the findings' paths git tracks: given as literal pathspecs (no glob or `:` magic), in batches
    # that stay far below the argument limit; the ignored ones through stdin.
    batches = [_git(root, "--literal-pathspecs", "ls-files", "-z", "--", *map(os.fsencode, paths[start:start + 500]),
                    paths=[])
               for start in range(0, len(paths), 500)]
    ignored = _git(root, "check-ignore", "-z", "--stdin", paths=paths)
    if None in batches or ignored is None:
        return findings
    tracked = set().union(*batches)
    return [replace(f, tracked=f.path in tracked, ignored=f.path in ignored) for f in findings]
