"""Agent branches: one git worktree of the project per branch, kept under aishell's state directory.

The worktrees live outside the project (state_dir()/worktrees/<project-hash>/<NAME>), so the project's own
tools, watchers and scans never see them; a sandbox mounts one at its exact path together with the
repository's shared git directory (plan.py), so the branch's commits land in the project's repository.

Git itself does the work (`git worktree add`, `prune`); nothing here writes inside `.git`.

Each branch's record (agent, base) is a small JSON file beside the worktrees, never inside one and not in
git's configuration: a sandbox mounts its worktree and the shared git directory writable, and must not be
able to rewrite what `merge` and `discard` trust. (`git config --worktree` would also switch on
extensions.worktreeConfig for the whole repository, after which a `config.worktree` that does not exist yet,
and so is not mounted read-only by git_protection.py, is one the host's git would obey.)

Git commands that look inside a worktree after a sandbox had it run with GIT_DIR and GIT_COMMON_DIR given,
not found: a sandbox can replace the worktree's `.git` file (or its `commondir`) with one pointing at a
configuration of its own (core.fsmonitor, a filter), which the host's git would run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from .errors import EXIT_USAGE, AishellError
from .paths import state_dir


@dataclass
class Branch:
    """One agent branch, as its record says."""

    name: str
    path: str  # the worktree
    agent: str  # what it was made for: an agent, shell or exec
    base: str  # --from as given
    base_commit: str
    created: float
    admin: str  # its directory under the shared git directory's worktrees/


def _fail(message: str, hint: str) -> AishellError:
    return AishellError(message, hint=hint, exit_code=EXIT_USAGE)


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def _out(run: subprocess.CompletedProcess) -> str:
    return (run.stderr or run.stdout).strip().splitlines()[-1] if (run.stderr or run.stdout).strip() else ""


# --------------------------------------------------------------------------------------------------- where


def project_hash(project: Path) -> str:
    """The same hash as the sandboxes' org.aishell.project-hash label."""
    return hashlib.sha256(str(project).encode()).hexdigest()[:16]


def home(project: Path) -> Path:
    return state_dir() / "worktrees" / project_hash(project)


def tree_path(project: Path, name: str) -> Path:
    return home(project) / name


def _record_file(project: Path, name: str) -> Path:
    # A ref's component cannot start with a dot, so `.records` is never a branch's worktree.
    return home(project) / ".records" / f"{quote(name, safe='')}.json"


@contextmanager
def _locked(project: Path) -> Iterator[None]:
    """One creation or removal at a time per project: two launches of `--branch a` at once make one worktree."""
    home(project).mkdir(parents=True, exist_ok=True)
    with open(home(project) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------------------------------- checks


def common_dir(project: Path) -> Path:
    """The repository's git directory, after refusing what cannot have agent branches."""
    inside = git(project, "rev-parse", "--is-bare-repository", "--show-toplevel")
    if inside.returncode != 0:
        bare = git(project, "rev-parse", "--is-bare-repository")
        if bare.returncode == 0 and bare.stdout.strip() == "true":
            raise _fail(f"{project} is a bare repository: it has no work tree to branch from",
                        "run it in a clone with a work tree (`git clone " + str(project) + " DIR`)")
        raise _fail(f"{project} is not a git repository: agent branches are git branches",
                    "run it inside a git repository (or `git init && git commit --allow-empty -m init` first), "
                    "or without --branch")
    top = Path(inside.stdout.splitlines()[-1])
    if top.resolve() != project.resolve():
        raise _fail(f"{project} is inside the repository {top}: a branch's worktree is the whole repository",
                    f"pass --project {top}, or run it from there")
    found = git(project, "rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(found.stdout.strip())


def check_name(project: Path, name: str) -> None:
    """A name git takes for a new branch, exactly as given."""
    run = git(project, "check-ref-format", "--branch", name)
    if run.returncode != 0 or run.stdout.strip() != name or name in ("HEAD", "-") or name.startswith("-"):
        raise _fail(f"{name!r} is not a valid branch name",
                    "use letters, digits, - _ / and . (no spaces, `..`, `~^:?*[\\` or a leading -); "
                    "`git check-ref-format --branch NAME` checks one")


def _branch_exists(project: Path, name: str) -> bool:
    return git(project, "show-ref", "--verify", "--quiet", f"refs/heads/{name}").returncode == 0


def _commit_of(project: Path, ref: str) -> str:
    run = git(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if run.returncode != 0:
        if ref == "HEAD":
            raise _fail(f"{project} has no commits yet: a branch needs one to start from",
                        "commit once (`git commit --allow-empty -m init`), then launch again")
        raise _fail(f"--from {ref}: no such commit in {project}", "give a branch, tag or commit (`git log` lists them)")
    return run.stdout.strip()


# --------------------------------------------------------------------------------------------------- records


def load(project: Path, name: str) -> Branch | None:
    try:
        return Branch(**json.loads(_record_file(project, name).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def records(project: Path) -> list[Branch]:
    folder = home(project) / ".records"
    found = [load(project, unquote(path.stem)) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return [branch for branch in found if branch is not None]


def _save(project: Path, branch: Branch) -> None:
    path = _record_file(project, branch.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(branch), indent=2, sort_keys=True) + "\n")
    partial.replace(path)  # whole or not at all


def known(project: Path, name: str) -> Branch:
    """The record of an agent branch; a readable refusal for any other name."""
    branch = load(project, name)
    if branch is None:
        made = ", ".join(b.name for b in records(project)) or "none yet"
        raise _fail(f"{name!r} is not an agent branch of {project} (made by aishell-run: {made})",
                    "`aishell-run branches` lists them; `--branch NAME` on a launch makes one")
    return branch


def admin_dir(common: Path, branch: Branch) -> Path:
    return common / "worktrees" / branch.admin


def locked(common: Path, branch: Branch) -> str | None:
    """Why the worktree is locked (`git worktree lock`), or None."""
    lock = admin_dir(common, branch) / "locked"
    return (lock.read_text().strip() or "no reason given") if lock.is_file() else None


# --------------------------------------------------------------------------------------------------- create / resume


def open_branch(project: Path, name: str, *, base: str | None, agent: str,
                include: tuple[str, ...] = ()) -> tuple[Path, str]:
    """The worktree of agent branch `name`: made from `base` (default HEAD) on first use, resumed after.
    Returns its path and a line saying which."""
    common = common_dir(project)
    check_name(project, name)
    with _locked(project):
        branch = load(project, name)
        if branch is None:
            return _create(project, common, name, base or "HEAD", agent, include)
        return _resume(project, common, branch, base, include)


def _create(project: Path, common: Path, name: str, base: str, agent: str,
            include: tuple[str, ...]) -> tuple[Path, str]:
    if _branch_exists(project, name):
        raise _fail(f"a branch {name!r} exists already in {project}, and aishell-run did not make it",
                    "pick another --branch NAME (`git branch` lists the taken ones); an agent branch is a new one")
    commit = _commit_of(project, base)
    path = tree_path(project, name)
    if path.exists():  # left by hand, or by an earlier run that died half-way: never overwrite it
        raise _fail(f"{path} exists already but is no worktree of branch {name!r}",
                    f"move or remove {path}, then launch again")
    path.parent.mkdir(parents=True, exist_ok=True)
    run = git(project, "worktree", "add", "--quiet", "-b", name, str(path), commit)
    if run.returncode != 0:
        # `-b` makes the branch before the checkout that failed: take back what git left.
        shutil.rmtree(path, ignore_errors=True)
        git(project, "worktree", "prune")
        git(project, "branch", "-D", name)
        raise AishellError(f"git could not make the worktree of {name!r}: {_out(run)}",
                           hint="nothing was created; run the same command again after fixing that")
    branch = Branch(name=name, path=str(path), agent=agent, base=base, base_commit=commit, created=time.time(),
                    admin=_admin_name(path))
    _save(project, branch)
    copied = copy_included(project, path, include)
    extra = f", {copied} ignored file(s) copied in (worktree.include)" if copied else ""
    return path, f"branch {name}: new worktree {path} from {base} ({commit[:12]}){extra}"


def _admin_name(path: Path) -> str:
    """The worktree's directory under .git/worktrees/, read once, before any sandbox could change its `.git`."""
    pointer = (path / ".git").read_text().strip().removeprefix("gitdir:").strip()
    return Path(pointer).name


def _resume(project: Path, common: Path, branch: Branch, base: str | None,
            include: tuple[str, ...]) -> tuple[Path, str]:
    name, path = branch.name, Path(branch.path)
    if not _branch_exists(project, name):
        raise _fail(f"the agent branch {name!r} is gone from {project} (deleted by hand?)",
                    f"`aishell-run discard {name} --yes` removes what is left; then launch again for a new one")
    note = ""
    if base is not None and _commit_of(project, base) != branch.base_commit:
        note = f" (--from {base} ignored: the branch exists, based on {branch.base_commit[:12]})"
    if (path / ".git").exists():
        _check_pointers(project, common, branch)
        return path, f"branch {name}: resuming worktree {path}{note}"
    # The worktree's directory was removed by hand: git still counts it until pruned, unless it is locked.
    why = locked(common, branch)
    if why is not None:
        raise _fail(f"the worktree of {name!r} at {path} is missing and locked ({why})",
                    f"bring it back, or `git -C {project} worktree unlock {path}` and launch again to recreate it")
    git(project, "worktree", "prune")
    path.parent.mkdir(parents=True, exist_ok=True)
    run = git(project, "worktree", "add", "--quiet", str(path), name)
    if run.returncode != 0:
        raise AishellError(f"git could not recreate the worktree of {name!r}: {_out(run)}",
                           hint=f"`git -C {project} worktree list` shows where git thinks it is")
    branch.admin = _admin_name(path)
    _save(project, branch)
    copy_included(project, path, include)
    return path, (f"branch {name}: its worktree had been removed by hand; recreated {path} from the branch "
                  f"(its commits are kept, uncommitted work was lost){note}")


def _check_pointers(project: Path, common: Path, branch: Branch) -> None:
    """The worktree's `.git` file and its `commondir` still lead to this repository: the plan mounts the git
    directory they name, writable, so one a sandbox redirected (to $HOME, say) must not be followed."""
    admin = admin_dir(common, branch)
    try:
        pointer = (Path(branch.path) / ".git").read_text().strip().removeprefix("gitdir:").strip()
        back = (admin / "commondir").read_text().strip()
    except OSError:
        pointer, back = "", ""
    if (not pointer or (Path(branch.path) / pointer).resolve() != admin.resolve()
            or (admin / back).resolve() != common.resolve()):
        raise _fail(f"the worktree of {branch.name!r} at {branch.path} no longer points at {common} (changed "
                    "inside a sandbox?); it was not launched",
                    f"look at {branch.path}/.git, then `git -C {project} worktree repair {branch.path}` and launch "
                    "again")


def copy_included(project: Path, tree: Path, patterns: tuple[str, ...]) -> int:
    """Copy the main tree's gitignored files matching worktree.include; never one git tracks, never over a file
    the branch has (the sensitive-file scan then sees them, as everything mounted)."""
    if not patterns:
        return 0
    from .scan.exclude import excluded_paths  # the same glob matching as exclude:

    matched = excluded_paths(project, patterns)
    relative = [str(path.relative_to(project)) for path in matched]
    if not relative:
        return 0
    ignored = subprocess.run(["git", "-C", str(project), "check-ignore", "--stdin", "-z"],
                             input="\0".join(relative) + "\0", capture_output=True, text=True)
    wanted = {item for item in ignored.stdout.split("\0") if item}
    copied = 0
    for rel in relative:
        source, target = project / rel, tree / rel
        if rel not in wanted or target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
        copied += 1
    return copied


# --------------------------------------------------------------------------------------------------- inspect


def tree_git(common: Path, branch: Branch, *args: str) -> subprocess.CompletedProcess:
    """Git on the worktree with its git directories given, not read from what the sandbox could rewrite."""
    env = {"GIT_DIR": str(admin_dir(common, branch)), "GIT_COMMON_DIR": str(common),
           "GIT_WORK_TREE": branch.path, "GIT_OPTIONAL_LOCKS": "0"}
    return git(Path(branch.path), *args, env=env)


def ahead(project: Path, branch: Branch) -> int:
    run = git(project, "rev-list", "--count", f"{branch.base_commit}..refs/heads/{branch.name}")
    return int(run.stdout.strip() or 0) if run.returncode == 0 else 0


def uncommitted(common: Path, branch: Branch) -> list[str]:
    """Paths changed in the worktree since its last commit (untracked ones too)."""
    if not Path(branch.path).is_dir():
        return []
    run = tree_git(common, branch, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries = run.stdout.split("\0")
    paths, skip = [], False
    for entry in entries:
        if skip or not entry:
            skip = False
            continue
        paths.append(entry[3:])
        skip = entry[:1] in ("R", "C")  # a rename's source follows
    return paths


def summary(project: Path, common: Path, branch: Branch, running: bool) -> dict:
    """One row of `aishell-run branches`."""
    committed = git(project, "diff", "--name-only", branch.base_commit, f"refs/heads/{branch.name}").stdout.split("\n")
    dirty = uncommitted(common, branch)
    changed = {path for path in committed if path} | set(dirty)
    times = [branch.created]
    tip = git(project, "log", "-1", "--format=%ct", f"refs/heads/{branch.name}")
    if tip.returncode == 0 and tip.stdout.strip():
        times.append(float(tip.stdout.strip()))
    for path in dirty:
        with suppress(OSError):
            times.append((Path(branch.path) / path).lstat().st_mtime)
    present = Path(branch.path, ".git").exists()
    state = "running" if running else ("idle" if present else "missing")
    return {"branch": branch.name, "agent": branch.agent, "state": state, "path": branch.path,
            "base": branch.base, "base_commit": branch.base_commit, "ahead": ahead(project, branch),
            "files_changed": len(changed), "uncommitted": len(dirty), "last_activity": max(times),
            "locked": locked(common, branch)}


# --------------------------------------------------------------------------------------------------- merge / discard


def merge(project: Path, branch: Branch) -> str:
    """Merge the branch into the main tree's current branch; refuse, leaving both as they were, when it cannot."""
    common = common_dir(project)
    current = git(project, "symbolic-ref", "--quiet", "--short", "HEAD")
    if current.returncode != 0:
        raise _fail(f"{project} has a detached HEAD: there is no current branch to merge {branch.name!r} into",
                    "check out the branch to merge into (`git switch main`), then merge again")
    if ahead(project, branch) == 0:
        raise _fail(f"{branch.name!r} has no commits beyond its base {branch.base_commit[:12]}: nothing to merge",
                    "the agent's changes are merged once committed in the branch; `aishell-run diff "
                    f"{branch.name}` shows what is there")
    dirty = git(project, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if dirty:
        raise _fail(f"the main tree {project} has uncommitted changes: merging {branch.name!r} now could mix them up",
                    "commit or stash them (`git stash`), then merge again")
    run = git(project, "merge", "--no-edit", f"refs/heads/{branch.name}")
    if run.returncode == 0:
        return current.stdout.strip()
    conflicts = git(project, "diff", "--name-only", "--diff-filter=U").stdout.split()
    if (common / "MERGE_HEAD").exists():
        git(project, "merge", "--abort")
    if conflicts:
        raise AishellError(f"merging {branch.name!r} into {current.stdout.strip()} conflicts in: "
                           f"{', '.join(conflicts)}; the merge was aborted, both sides are as they were",
                           hint=f"bring {current.stdout.strip()} into the branch and resolve it there "
                                f"(`aishell-run exec --branch {branch.name} -- git merge {current.stdout.strip()}`, "
                                "or ask the agent), then merge again")
    raise AishellError(f"git could not merge {branch.name!r}: {_out(run)}",
                       hint="nothing was merged; fix that and merge again")


def discard(project: Path, branch: Branch) -> None:
    """Remove the worktree and the branch. Deletes the directory itself rather than let git look inside it
    first (see the module's docstring), then lets git forget it."""
    common = common_dir(project)
    why = locked(common, branch)
    if why is not None:
        raise _fail(f"the worktree of {branch.name!r} at {branch.path} is locked ({why})",
                    f"`git -C {project} worktree unlock {branch.path}`, then discard again")
    with _locked(project):
        if Path(branch.path).exists():
            shutil.rmtree(branch.path)
        git(project, "worktree", "prune")
        if _branch_exists(project, branch.name):
            run = git(project, "branch", "-D", branch.name)
            if run.returncode != 0:
                raise AishellError(f"git could not delete the branch {branch.name!r}: {_out(run)}",
                                   hint="its worktree is gone; `git branch -D NAME` once that is fixed")
        _record_file(project, branch.name).unlink(missing_ok=True)
