"""`aishell-run branches`, `diff`, `merge` and `discard`: the agent branches that `--branch NAME` makes.

Every git command here runs in the main tree, whose configuration and hooks a sandbox cannot change;
what runs on a worktree is given its git directories (worktrees.tree_git).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from .. import host_run_files, worktrees
from ..errors import EXIT_USAGE, AishellError
from ..project import find_project
from ..ui import UI

SANDBOX = "org.aishell.role=sandbox"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "branches", help="list this project's agent branches (made by --branch NAME)",
        description="List the agent branches of this project: agent, running or idle, commits ahead of the base, "
                    "files changed, last activity.",
        epilog="examples:\n  aishell-run claude --branch fix-login\n  aishell-run branches --json | jq '.[].branch'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _project(parser)
    parser.set_defaults(handler=list_branches)

    _on_a_branch(subparsers, "diff", show_diff, "show an agent branch's changes against its base",
                 "Show the commits of agent branch NAME against the commit it started from (git diff BASE...NAME), "
                 "paged as git pages.", "aishell-run diff fix-login")
    _on_a_branch(subparsers, "merge", merge, "merge an agent branch into the main tree's current branch",
                 "Merge agent branch NAME into the current branch of the main tree. Refused, with the reason, when "
                 "the main tree has uncommitted changes or the merge conflicts (then it is aborted: both sides stay "
                 "as they were).", "aishell-run merge fix-login")
    parser = _on_a_branch(subparsers, "discard", discard, "remove an agent branch and its worktree",
                          "Remove agent branch NAME and its worktree, after a confirmation; refused while a sandbox "
                          "runs in it.", "aishell-run discard fix-login --yes")
    parser.add_argument("--yes", action="store_true", help="do not ask (needed when not at a terminal)")


def _on_a_branch(subparsers: argparse._SubParsersAction, command: str, handler, summary: str, description: str,
                 example: str) -> argparse.ArgumentParser:
    """A command that acts on one agent branch NAME of the project."""
    parser = subparsers.add_parser(command, help=summary, description=description, epilog=f"example:\n  {example}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", metavar="NAME", help="the agent branch")
    _project(parser)
    parser.set_defaults(handler=handler)
    return parser


def _project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", help="project directory (default: the git work tree holding the current "
                                           "directory)")


def _open(args: argparse.Namespace) -> tuple[Path, Path]:
    project = find_project(args.project)
    return project, worktrees.common_dir(project)


def sandbox_paths() -> set[str]:
    """The project paths of our sandbox containers, on every engine that answers (none answering: none run)."""
    from ..engines import answering
    from .sessions import _row

    return {_row(engine, container)["project"] for engine in answering() for container in engine.containers([SANDBOX])}


def _ago(stamp: float) -> str:
    seconds = max(0, int(time.time() - stamp))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def list_branches(args: argparse.Namespace, ui: UI) -> int:
    project, common = _open(args)
    found = worktrees.records(project)
    live = sandbox_paths() if found else set()
    rows = [worktrees.summary(project, common, branch, branch.path in live) for branch in found]
    if ui.json_mode:
        ui.emit_json([{**row, "last_activity": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["last_activity"]))}
                      for row in rows])
        return 0
    if not rows:
        ui.err.print(f"no agent branches in {project} yet; `aishell-run claude --branch NAME` makes one",
                     markup=False, soft_wrap=True)
        return 0
    from rich.table import Table

    table = Table(title=f"Agent branches of {project}")
    for column in ("branch", "agent", "state", "ahead", "files", "last activity", "worktree"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = row["state"] + (" (locked)" if row["locked"] else "")
        files = f"{row['files_changed']}" + (f" ({row['uncommitted']} uncommitted)" if row["uncommitted"] else "")
        table.add_row(row["branch"], row["agent"], state, str(row["ahead"]), files, _ago(row["last_activity"]),
                      row["path"])
    ui.out.print(table)
    return 0


def show_diff(args: argparse.Namespace, ui: UI) -> int:
    project, common = _open(args)
    branch = worktrees.known(project, args.name)
    spec = f"{branch.base_commit}...refs/heads/{branch.name}"
    colour = ["-c", "color.ui=never"] if ui.colour_off else []
    if ui.json_mode:
        names = worktrees.git(project, "diff", "--name-only", spec).stdout.split("\n")
        patch = worktrees.git(project, *colour, "diff", spec).stdout
        ui.emit_json({"branch": branch.name, "base": branch.base, "base_commit": branch.base_commit,
                      "files": [name for name in names if name], "patch": patch})
        return 0
    pending = worktrees.uncommitted(common, branch)
    if pending:
        ui.err.print(f"note: {len(pending)} uncommitted change(s) in {branch.path} are not shown (only commits "
                     "are merged)", markup=False, soft_wrap=True)
    # git pages on a terminal and prints plainly into a pipe, as the user's own `git diff` does.
    return subprocess.run(["git", "-C", str(project), *colour, "diff", spec]).returncode


def merge(args: argparse.Namespace, ui: UI) -> int:
    project, common = _open(args)
    branch = worktrees.known(project, args.name)
    before = host_run_files.snapshot(project)
    into = worktrees.merge(project, branch)
    pending = worktrees.uncommitted(common, branch)
    changed = host_run_files.changes(before, host_run_files.snapshot(project))
    if ui.json_mode:
        ui.emit_json({"merged": branch.name, "into": into, "uncommitted_left": len(pending),
                      "host_run_files": changed})
        return 0
    ui.err.print(f"merged {branch.name} into {into}", markup=False)
    if pending:
        ui.err.print(f"note: {len(pending)} uncommitted change(s) stay in {branch.path}", markup=False, soft_wrap=True)
    if changed:
        # The agent wrote these; the host's tools would run them at the next cd, open or commit.
        ui.err.print("warning: the merge changed files that tools on this host run or obey by themselves; "
                     "review them:", markup=False, soft_wrap=True)
        for path, change in changed.items():
            ui.err.print(f"  {change}: {project / path}", markup=False, soft_wrap=True)
    return 0


def discard(args: argparse.Namespace, ui: UI) -> int:
    project, common = _open(args)
    branch = worktrees.known(project, args.name)
    if branch.path in sandbox_paths():
        raise AishellError(f"a sandbox runs in the worktree of {branch.name!r} ({branch.path})",
                           hint="end it first (`aishell-run ps` lists it, `aishell-run stop NAME` ends it; "
                                "`aishell-run gc` removes a stopped one), then discard again", exit_code=EXIT_USAGE)
    if not args.yes:
        _confirm(ui, project, common, branch)
    worktrees.discard(project, branch)
    if ui.json_mode:
        ui.emit_json({"discarded": branch.name, "path": branch.path})
    else:
        ui.err.print(f"discarded {branch.name}: its worktree {branch.path} and the branch are gone", markup=False,
                     soft_wrap=True)
    return 0


def _confirm(ui: UI, project: Path, common: Path, branch: worktrees.Branch) -> None:
    """Ask at a terminal, saying what would be lost; refuse elsewhere (scripts pass --yes)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise AishellError(f"discarding {branch.name!r} deletes its worktree and branch: confirm it",
                           hint=f"at a terminal it asks; in a script pass --yes (aishell-run discard {branch.name} "
                                "--yes)", exit_code=EXIT_USAGE)
    merged = worktrees.git(project, "merge-base", "--is-ancestor", f"refs/heads/{branch.name}", "HEAD").returncode == 0
    ahead = worktrees.ahead(project, branch)
    lost = [] if merged or not ahead else [f"{ahead} commit(s) not merged"]
    pending = len(worktrees.uncommitted(common, branch))
    lost += [f"{pending} uncommitted change(s)"] if pending else []
    what = f" ({', '.join(lost)})" if lost else ""
    try:
        answer = ui.err.input(f"Remove the worktree {branch.path} and branch {branch.name}{what}? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip().lower()[:1] != "y":
        raise AishellError(f"{branch.name} was not discarded", hint="nothing changed", exit_code=EXIT_USAGE)
