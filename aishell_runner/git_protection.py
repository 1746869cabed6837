"""The parts of a repository that git on the host runs or obeys by itself, mounted read-only in a sandbox.

A hook, or a setting such as `core.fsmonitor`, `core.hooksPath` or an alias,
planted from inside would run at the user's next `git status` on the host. So
every git directory the sandbox can reach (the project's own `.git`, a
worktree's shared one, each submodule's under `modules/`) has its `hooks`
and its configuration files (`config`, `config.worktree`, each worktree's
`config.worktree`, and the files they include that the sandbox can reach)
mounted read-only over the writable project. Objects, refs, the index and logs stay writable, so add,
commit, branch, log, diff and fetch from local paths work inside.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .background import in_background

CONFIG_FILES = ("config", "config.worktree")


def git_dirs(project: Path, common: Path | None) -> list[Path]:
    """The git directories a sandbox of `project` reaches: its own `.git`, the shared one, submodules'."""
    roots = [path for path in (project / ".git", common) if path is not None and path.is_dir()]
    return [found for root in dict.fromkeys(roots) for found in [root, *_git_dirs_below(root / "modules")]]


def _git_dirs_below(folder: Path) -> list[Path]:
    """The submodules' git directories under a `modules` folder (a name may hold slashes), and theirs in
    turn, without walking their objects."""
    found = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else ():
        if (child / "HEAD").is_file() and (child / "config").is_file():
            found += [child, *_git_dirs_below(child / "modules")]
        elif child.is_dir() and not child.is_symlink():
            found += _git_dirs_below(child)  # a component of a NAME with slashes
    return found


def protected_paths(project: Path, common: Path | None) -> list[Path]:
    """What to mount read-only: each git directory's hooks (made when missing, so it can be mounted) and
    configuration files, its worktrees' own, and every file they include."""
    paths: list[Path] = []
    for git_dir in git_dirs(project, common):
        hooks = git_dir / "hooks"
        hooks.mkdir(mode=0o755, exist_ok=True)
        paths.append(hooks)
        # What `config` includes, asked beside whether it turns worktree configuration on (two git processes).
        includes = in_background(included_files, git_dir / "config")
        configs = [git_dir / name for name in CONFIG_FILES]
        worktrees = git_dir / "worktrees"
        if worktrees.is_dir():
            configs += sorted(worktrees.glob("*/config.worktree"))
        if _worktree_config_on(git_dir):
            # Then git obeys each tree's config.worktree, also one made later: one the sandbox could create
            # in the writable git directory. Made empty now, so that it can be mounted read-only.
            owners = [git_dir, *(sorted(p for p in worktrees.iterdir() if p.is_dir()) if worktrees.is_dir() else [])]
            for owner in owners:
                (owner / "config.worktree").touch(mode=0o644, exist_ok=True)
                configs.append(owner / "config.worktree")
        included = includes()
        for config in configs:
            if config.is_file():
                paths += [config, *(included if config == git_dir / "config" else included_files(config))]
    # An included file outside what the sandbox mounts is out of its reach already; mounting it would
    # bring it in.
    reachable = [root for root in (project, common) if root is not None]
    return [path for path in dict.fromkeys(paths) if any(path.is_relative_to(root) for root in reachable)]


def _worktree_config_on(git_dir: Path) -> bool:
    run = subprocess.run(["git", "config", "--file", str(git_dir / "config"), "--bool", "extensions.worktreeConfig"],
                         capture_output=True, text=True)
    return run.stdout.strip() == "true"


def included_files(config: Path, seen: frozenset[Path] = frozenset()) -> list[Path]:
    """The files `config` includes (include.path and includeIf.*.path), followed transitively; existing ones."""
    run = subprocess.run(["git", "config", "--file", str(config), "--get-regexp", r"^include(if\..*)?\.path$"],
                         capture_output=True, text=True)
    found = []
    for line in run.stdout.splitlines():
        _, _, value = line.partition(" ")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else config.parent / path
        if path.is_file() and path not in seen and path != config:
            found.append(path)
            found += included_files(path, seen | {config, path})
    return found
