"""Sensitive-file scan on a generated git repository (100,000 files by default).

In one run, on one tree: the names-and-paths scan with the walk remembered from
the last launch (warm) and with nothing remembered (cold), `exclude:` answered
from the walk, the content scan cold (empty cache, once) and warm (same tree,
same cache), each warm figure twice: on the full path (every file stat-ed,
`watch=False`) and with the tree's watcher answering (its journal of changes),
the latter also after one file changed; and the baselines `git ls-files`, a
plain `os.walk` and a bare `os.lstat` of every file; then the same on smaller
and larger trees, to show how each cost grows. The tree is a realistic mix: about 100 files a directory,
mostly small source files, some JSON and YAML, a few planted secrets, and a
node_modules directory (git-ignored) that the scan must skip.

    python bench/scan.py [--files N] [--runs N] [--growth N,N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from report import median, write_section

from aishell_runner.scan import ScanResult, scan_tree, watch
from aishell_runner.scan.content import MAX_BYTES, NOT_SECRETS, rule_id, scan_content
from aishell_runner.scan.exclude import excluded_paths
from aishell_runner.scan.walk import SKIPPED_DIRS, tree_cache, walk

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
FILES = 100_000
GROWTH = (10_000, 300_000)
# detect-secrets alone on every file, the cold scan's baseline, is run on trees up to this size (1.5 ms a file).
ALONE_UP_TO = 100_000
# [2.6]'s targets on the 100,000-file tree, seconds.
NAMES_TARGET = 0.3
STAGE_TARGET = 0.15
COLD_TARGET = 20.0
EXCLUDE = (".env", "*.pem", "secrets/")
WORDS = ("account", "adapter", "alpha", "audit", "billing", "cache", "catalog", "client", "common", "core",
         "cursor", "delta", "engine", "event", "export", "feature", "filter", "gateway", "graph", "handler",
         "import", "index", "invoice", "job", "kernel", "ledger", "loader", "mapper", "metric", "model",
         "notify", "order", "parser", "payment", "pipeline", "policy", "queue", "report", "router", "schema",
         "search", "session", "shard", "signal", "store", "stream", "task", "tenant", "upload", "user",
         "util", "view", "widget", "worker")
TOP_DIRS = ("src", "lib", "tests", "docs", "config", "services", "packages", "scripts", "web", "tools")
SOURCE_EXTS = ("py", "py", "py", "js", "ts", "ts", "go", "java", "rs", "c", "h", "rb")
# Planted sensitive files (relative path -> what they hold); built at run time, no secret sits in this file.
BEGIN, END = "-----BEGIN ", "-----END "


# ------------------------------------------------------------------------------------------------ the tree


def _ident(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)}_{rng.choice(WORDS)}"


def _source(ext: str, index: int, rng: random.Random) -> str:
    name, other = _ident(rng), _ident(rng)
    bodies = rng.randint(1, 3)
    if ext == "py":
        funcs = "".join(
            f"\n\ndef {name}_{index}_{n}(value: int, {other}: str = \"{rng.choice(WORDS)}\") -> int:\n"
            f"    \"\"\"Return the {rng.choice(WORDS)} of value for {other}.\"\"\"\n"
            f"    total = value * {rng.randint(2, 997)}\n"
            f"    for item in range({rng.randint(2, 64)}):\n        total += item\n    return total\n"
            for n in range(bodies))
        return f"\"\"\"{name.title()} module {index}.\"\"\"\n\nimport os\nfrom .{other} import {name}\n{funcs}"
    if ext in ("js", "ts"):
        typed = ": number" if ext == "ts" else ""
        funcs = "".join(
            f"\nexport function {name}{index}_{n}(value{typed}){typed} {{\n"
            f"  const {other} = value * {rng.randint(2, 997)};\n"
            f"  return {other} + \"{rng.choice(WORDS)}\".length;\n}}\n"
            for n in range(bodies))
        return f"import {{ {other} }} from './{name}';\n{funcs}"
    if ext == "go":
        funcs = "".join(
            f"\n// {name.title()}{index}x{n} returns the {rng.choice(WORDS)} of value.\n"
            f"func {name.title().replace('_', '')}{index}x{n}(value int) int {{\n"
            f"\treturn value * {rng.randint(2, 997)}\n}}\n"
            for n in range(bodies))
        return f"package {rng.choice(WORDS)}\n\nimport \"fmt\"\n{funcs}"
    if ext == "rs":
        funcs = "".join(
            f"\npub fn {name}_{index}_{n}(value: u64) -> u64 {{\n    value * {rng.randint(2, 997)}\n}}\n"
            for n in range(bodies))
        return f"//! {name} module {index}\nuse crate::{other};\n{funcs}"
    if ext == "java":
        methods = "".join(
            f"\n    public int {other}{n}(int value) {{\n        return value * {rng.randint(2, 997)};\n    }}\n"
            for n in range(bodies))
        return f"package com.example.{rng.choice(WORDS)};\n\npublic class C{index} {{{methods}}}\n"
    if ext == "rb":
        return f"module {name.title().replace('_', '')}\n  def self.{other}_{index}(value)\n" \
               f"    value * {rng.randint(2, 997)}\n  end\nend\n"
    funcs = "".join(f"\nint {name}_{index}_{n}(int value) {{\n    return value * {rng.randint(2, 997)};\n}}\n"
                    for n in range(bodies))
    return f"#include <stdio.h>\n#include \"{other}.h\"\n{funcs}"


def _data(ext: str, index: int, rng: random.Random) -> str:
    keys = [_ident(rng) for _ in range(rng.randint(3, 9))]
    if ext == "json":
        items = ",\n".join(f'  "{key}": {{"id": {index * 10 + n}, "enabled": {str(n % 2 == 0).lower()}}}'
                           for n, key in enumerate(keys))
        return "{\n" + items + "\n}\n"
    if ext == "yaml":
        return f"name: {_ident(rng)}-{index}\n" + "".join(f"{key}:\n  replicas: {rng.randint(1, 9)}\n"
                                                           f"  image: {rng.choice(WORDS)}:{index % 50}\n"
                                                           for key in keys)
    return f"# {_ident(rng).title()} {index}\n\n" + "".join(
        f"- The {key} handles {rng.choice(WORDS)} for {rng.choice(WORDS)} number {index}.\n" for key in keys)


def _planted(rng: random.Random) -> dict[str, str]:
    def chars(alphabet: str, count: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(count))

    alnum = string.ascii_letters + string.digits
    key_lines = "\n".join(chars(alnum + "+/", 64) for _ in range(6))
    private_key = f"{BEGIN}OPENSSH PRIVATE KEY-----\n{key_lines}\n{END}OPENSSH PRIVATE KEY-----\n"
    access_key = "AKIA" + chars(string.ascii_uppercase + string.digits, 16)
    return {
        ".gitignore": "node_modules/\n",
        ".env": f"DATABASE_URL=postgres://app:{chars(alnum, 20)}@db:5432/app\nSECRET_KEY={chars(alnum, 40)}\n",
        "config/.env.production": f"API_TOKEN={chars(alnum, 32)}\n",
        "deploy/keys/id_rsa": private_key,
        "certs/server.pem": private_key.replace("OPENSSH", "RSA"),
        ".aws/credentials": f"[default]\naws_access_key_id = {access_key}\n"
                            f"aws_secret_access_key = {chars(alnum + '/+', 40)}\n",
        "services/api/settings.py": f"DEBUG = False\nGITHUB_TOKEN = \"ghp_{chars(alnum, 36)}\"\n",
    }


def make_tree(root: Path, files: int) -> int:
    """`files` files committed to a new git repository at root, plus a git-ignored node_modules; its size."""
    rng = random.Random(20261127)
    dirs = [root / name for name in TOP_DIRS[:max(1, min(len(TOP_DIRS), files // 100))]]
    while len(dirs) < max(1, files // 100):
        parent = rng.choice(dirs)
        if len(parent.relative_to(root).parts) < 5:
            dirs.append(parent / f"{rng.choice(WORDS)}{len(dirs)}")
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
    planted = _planted(rng)
    for relative, text in planted.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    for index in range(files - len(planted)):
        roll = rng.random()
        ext = rng.choice(SOURCE_EXTS) if roll < 0.8 else "json" if roll < 0.88 else "yaml" if roll < 0.95 else "md"
        text = _source(ext, index, rng) if roll < 0.8 else _data(ext, index, rng)
        (rng.choice(dirs) / f"{rng.choice(WORDS)}_{index}.{ext}").write_text(text)
    vendored = max(10, files // 50)
    for index in range(vendored):
        package = root / "node_modules" / f"pkg-{index // 20}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"index{index}.js").write_text(_source("js", index, rng))
    (root / "node_modules" / "pkg-0" / ".env").write_text(planted[".env"])  # must not be reported
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
           "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", "-c", "gc.auto=0"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench tree"], check=True)
    # Packed now, as a real repository is: the commit's own `gc --auto` would pack it in the background, for
    # about 20 s of both CPUs, while the first timed runs go.
    subprocess.run([*git, "gc", "-q"], check=True)
    os.sync()  # no write-back of the new tree during the timed runs
    return vendored + 1


def make_project(root: Path, files: int, config: str, what: str) -> None:
    """make_tree's repository at root (`what` names the benchmark in its progress line), made an aishell-run
    project with `config` as its .aishell/config.yaml (beside the commit: the tree stays as generated)."""
    print(f"{what}: generating and committing {files} files", flush=True)
    make_tree(root, files)
    (root / ".aishell").mkdir()
    (root / ".aishell" / "config.yaml").write_text(config)


# ----------------------------------------------------------------------------------------------- measuring


def timed(function: Callable[[], object], runs: int) -> list[float]:
    return [clock(function) for _ in range(runs)]


def clock(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, CPU seconds of this process and its children); Linux only."""
    times = os.times()
    ours = times.user + times.system + times.children_user + times.children_system
    try:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, ours
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), ours


def lstat_all(paths: list[str]) -> None:
    for path in paths:
        os.lstat(path)


def os_walk(root: str) -> list[str]:
    """Every file the scan sees: a plain os.walk, pruning the same vendored directories."""
    out = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [name for name in subdirs if name not in SKIPPED_DIRS]
        out.extend(os.path.join(directory, name) for name in names)
    return out


def check(result: ScanResult, files: int, content: bool) -> None:
    """The scan saw the whole tree, found the planted files and skipped node_modules; anything else aborts."""
    paths = {finding.path for finding in result.findings}
    expected = {".env", "config/.env.production", "deploy/keys/id_rsa", "certs/server.pem", ".aws/credentials"}
    problems = [f"saw {result.files} files, not {files}"] if result.files != files else []
    problems += [f"no finding for {path}" for path in sorted(expected - paths)]
    problems += [f"reported {path}" for path in sorted(paths) if path.startswith("node_modules/")]
    if not any(skipped.path == "node_modules" for skipped in result.skipped):
        problems.append("node_modules not skipped")
    if content and not any(finding.source != "name" for finding in result.findings):
        problems.append("the content scan found nothing")
    if problems:
        sys.exit("bench/scan.py: " + "; ".join(problems))


def _detect_secrets_on(paths: list[str]) -> list[tuple[str, str, int, str]]:
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    with default_settings():
        return [(path, rule_id(secret.type), secret.line_number, secret.secret_hash)
                for path in paths for secret in scan_file(path) if secret.type not in NOT_SECRETS]


def detect_secrets_alone(tree: str, result: ScanResult) -> tuple[float, bool]:
    """Seconds for detect-secrets itself on every file the scan considered, in as many worker processes as the
    cold scan uses, and whether its findings are the cold scan's: the prefilter must never lose one."""
    from concurrent.futures import ProcessPoolExecutor

    files = [file.path for file in walk(tree, None).files if os.lstat(file.path).st_size <= MAX_BYTES]
    chunks = [files[start:start + 100] for start in range(0, len(files), 100)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found = {(os.path.relpath(path, tree), *rest) for chunk in pool.map(_detect_secrets_on, chunks)
                 for path, *rest in chunk}
    seconds = time.perf_counter() - start
    ours = {(f.path, f.rule, f.line, f.secret_hash) for f in result.findings if f.source == "detect-secrets"}
    return seconds, found == ours


def measure(root: Path, files: int, runs: int, scratch: Path) -> dict[str, object]:
    """Every measure on one tree (made here), ours and the baselines in rounds, so that a busy moment of the
    machine hits them all alike."""
    print(f"scan: generating and committing {files} files", flush=True)
    vendored = make_tree(root, files)
    os.environ["XDG_CACHE_HOME"] = str(scratch / f"xdg-{files}")  # where excluded_paths remembers the walk
    # The journal's caches are where a launch keeps them (the watcher's socket too, for excluded_paths); the full
    # path's, a copy made after the cold scan, are never saved under a watcher's token.
    tree, cache, stat_cache = str(root), scratch / f"xdg-{files}" / "aishell" / "scan", scratch / f"cache-{files}"
    cold_results: list[ScanResult] = []

    def progress(done: int, total: int) -> None:
        if done == total or done % 10_000 < 100:
            print(f"scan: cold content scan {done}/{total}", flush=True)

    cold = clock(lambda: cold_results.append(scan_tree(tree, cache_dir=cache, progress=progress)))
    started = time.perf_counter()  # the cold scan started the tree's watcher (20,000 files or more)
    cold_result = cold_results[0]
    check(cold_result, files, content=True)
    print(f"scan: {files} files, content cold {cold:.1f} s", flush=True)
    shutil.copytree(cache, stat_cache, ignore=shutil.ignore_patterns("*.watch", "*.lock"))
    if files < watch.WATCH_FROM:  # a scan starts none for so few files: started here, to show what it would give
        started = time.perf_counter()
        watch.start(tree, cache)
    watcher = _watcher(tree, cache, started)
    alone = None
    if files <= ALONE_UP_TO and cold_result.content_scanner == "detect-secrets":
        alone, same = detect_secrets_alone(tree, cold_result)
        if not same:
            sys.exit(f"bench/scan.py: the cold scan's findings differ from detect-secrets' own ({files} files)")
        print(f"scan: {files} files, detect-secrets alone {alone:.1f} s, the same findings", flush=True)
    excluded_paths(root, EXCLUDE)
    for content in (False, True):  # the first scans the watcher answers for: the full path, paired with it
        scan_tree(tree, content=content, cache_dir=cache)
    ls_files = ["git", "-C", tree, "ls-files", "-z"]
    listed = os_walk(tree)
    changing = next(path for path in listed if path.endswith(".md"))
    samples: dict[str, list[float]] = {key: [] for key in (
        "names", "names_cold", "exclude", "warm", "stage", "git", "walk", "lstat",
        "names_fast", "exclude_fast", "warm_fast", "sync", "changed_fast")}
    results: list[ScanResult] = []
    busy_before, ours_before, rounds_start = *cpu_seconds(), time.perf_counter()
    for index in range(runs):
        with open(changing, "a") as handle:  # one file changed since the last scan (a line of prose)
            handle.write(f"- Round {index}.\n")
        samples["changed_fast"].append(clock(lambda: results.append(scan_tree(tree, cache_dir=cache))))
        results.append(scan_tree(tree, content=False, cache_dir=cache))  # the names' memo follows the change too
        excluded_paths(root, EXCLUDE)
        samples["names_fast"].append(clock(lambda: results.append(scan_tree(tree, content=False, cache_dir=cache))))
        samples["exclude_fast"].append(clock(partial(excluded_paths, root, EXCLUDE)))
        samples["warm_fast"].append(clock(lambda: results.append(scan_tree(tree, cache_dir=cache))))
        samples["sync"].append(clock(partial(watch.sync, tree, cache)))
        samples["names"].append(clock(lambda: results.append(
            scan_tree(tree, content=False, cache_dir=stat_cache, watch=False))))
        forgotten = scratch / f"forgotten-{files}-{index}"  # nothing remembered: the walk lists every directory
        samples["names_cold"].append(clock(lambda forgotten=forgotten: results.append(
            scan_tree(tree, content=False, cache_dir=forgotten, watch=False))))
        samples["exclude"].append(clock(partial(excluded_paths, root, EXCLUDE, watch=False)))
        samples["warm"].append(clock(lambda: results.append(scan_tree(tree, cache_dir=stat_cache, watch=False))))
        walked = walk(tree, tree_cache(stat_cache, tree)).files
        samples["stage"].append(clock(partial(scan_content, tree, walked, ScanResult(tree), cache_dir=stat_cache)))
        samples["git"].append(clock(partial(subprocess.run, ls_files, capture_output=True, check=True)))
        samples["walk"].append(clock(partial(os_walk, tree)))
        samples["lstat"].append(clock(partial(lstat_all, listed)))
    busy_after, ours_after = cpu_seconds()
    # Share of the machine that other processes kept busy during the rounds (their noise in our figures).
    others = max(0.0, (busy_after - busy_before) - (ours_after - ours_before)) / (
        (time.perf_counter() - rounds_start) * (os.cpu_count() or 1))
    names_only = [finding for finding in cold_result.findings if finding.source == "name"]
    for result in results:
        wanted = cold_result.findings if result.content_scanner else names_only
        if result.findings != wanted or result.skipped != cold_result.skipped:
            sys.exit(f"bench/scan.py: a warm scan's findings differ from the cold scan's ({files} files)")
    by_source: dict[str, int] = {}
    for finding in cold_result.findings:
        by_source[finding.source] = by_source.get(finding.source, 0) + 1
    cache_files = [path for path in stat_cache.iterdir() if not path.name.endswith(".tree.json")]
    if watcher.get("pid"):
        watcher["rss_mb"] = _rss_mb(watcher["pid"])
        watch.stop(tree, cache)
    return {
        "files": files, "vendored": vendored, "cold": cold, "alone": alone, "others": others, "samples": samples,
        **{key: median(values) for key, values in samples.items()},
        "tracked": subprocess.run(ls_files, capture_output=True, check=True).stdout.count(b"\0"),
        "directories": len({os.path.dirname(path) for path in listed}) - 1,  # not the root itself
        "found": ", ".join(f"{count} by {source}" for source, count in sorted(by_source.items())),
        "scanner": cold_result.content_scanner,
        "cache_mb": sum(path.stat().st_size for path in cache_files) / 1e6,
        "walk_mb": tree_cache(stat_cache, tree).stat().st_size / 1e6,
        "watcher": watcher,
    }


def _watcher(tree: str, cache: Path, started: float) -> dict[str, float]:
    """The watcher the cold scan started: seconds until it answered (its watches in place), its process id."""
    while time.perf_counter() - started < 120:
        answer = watch._ask(str(watch.socket_path(cache, tree)), {"op": "sync"})
        if isinstance(answer, dict):
            if not answer.get("ok"):
                sys.exit(f"bench/scan.py: the watcher cannot vouch for the tree: {answer.get('why')}")
            return {"ready": time.perf_counter() - started, "pid": answer["pid"]}
        time.sleep(0.01)
    sys.exit("bench/scan.py: no watcher answered within 120 s")


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration, ValueError):
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=FILES, help=f"files in the tree (default {FILES})")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per median (default {RUNS}, $BENCH_RUNS)")
    parser.add_argument("--growth", default=",".join(map(str, GROWTH)),
                        help="other tree sizes, measured the same way (default %(default)s; empty for none)")
    args = parser.parse_args()
    sizes = [args.files, *(int(size) for size in args.growth.split(",") if size)]
    measured = []
    for files in sizes:
        with tempfile.TemporaryDirectory(prefix="aishell-bench-scan-") as scratch:
            (Path(scratch) / "tree").mkdir()
            measured.append(measure(Path(scratch) / "tree", files, args.runs, Path(scratch)))
    main_tree = measured[0]
    write_section("scan", report(main_tree, sorted(measured, key=lambda m: m["files"]), args.runs))


def report(m: dict, by_size: list[dict], runs: int) -> str:
    def met(seconds: float, target: float) -> str:
        return "yes" if seconds < target else "no"

    stage = m["warm"] - m["names"]
    stage_fast = m["warm_fast"] - m["names_fast"]
    both = f"`git ls-files` {m['git']:.3f} s; `os.walk` {m['walk']:.3f} s"
    rows = [
        f"| names-and-paths scan, warm, with the journal: `scan_tree(root, content=False)` | {m['names_fast']:.3f} | "
        f"{both}; the full path's {m['names']:.3f} s | {m['names_fast'] / m['git']:.2f}x; "
        f"{m['names_fast'] / m['walk']:.2f}x; {m['names_fast'] / m['names']:.2f}x | < {NAMES_TARGET:g} s | "
        f"{met(m['names_fast'], NAMES_TARGET)} |",
        f"| names-and-paths scan, warm, full path (`watch=False`): the walk remembered, directories stat-ed | "
        f"{m['names']:.3f} | {both} | {m['names'] / m['git']:.1f}x; {m['names'] / m['walk']:.1f}x | "
        f"< {NAMES_TARGET:g} s | {met(m['names'], NAMES_TARGET)} |",
        f"| names-and-paths scan, nothing remembered (a first launch) | {m['names_cold']:.3f} | {both} | "
        f"{m['names_cold'] / m['git']:.1f}x; {m['names_cold'] / m['walk']:.1f}x | none | - |",
        f"| `exclude:` {', '.join(EXCLUDE)}, warm, with the journal (`excluded_paths`, also paid at every launch) | "
        f"{m['exclude_fast']:.3f} | `os.walk` {m['walk']:.3f} s | {m['exclude_fast'] / m['walk']:.2f}x | none | - |",
        f"| `exclude:` the same, warm, full path (after the names scan, in the same process: the walk's cache "
        f"parsed already) | {m['exclude']:.3f} | `os.walk` {m['walk']:.3f} s | {m['exclude'] / m['walk']:.2f}x | "
        f"none | - |",
        f"| content scan ({m['scanner']}), cold: whole `scan_tree(root)`, empty cache, one run | {m['cold']:.1f} | "
        + (f"detect-secrets alone on every file {m['alone']:.1f} s | {m['cold'] / m['alone']:.2f}x"
           if m["alone"] else f"names scan, cold {m['names_cold']:.3f} s | {m['cold'] / m['names_cold']:.0f}x")
        + f" | < {COLD_TARGET:g} s | {met(m['cold'], COLD_TARGET)} |",
        f"| content scan, warm, with the journal: whole `scan_tree(root)`, unchanged tree | {m['warm_fast']:.3f} | "
        f"{both}; the full path's {m['warm']:.3f} s | {m['warm_fast'] / m['git']:.2f}x; "
        f"{m['warm_fast'] / m['walk']:.2f}x; {m['warm_fast'] / m['warm']:.2f}x | none | - |",
        f"| content stage alone, warm, with the journal (its warm total minus its names scan) | {stage_fast:.3f} | "
        f"`os.lstat` of every file {m['lstat']:.3f} s | {stage_fast / m['lstat']:.2f}x | < {STAGE_TARGET:g} s | "
        f"{met(stage_fast, STAGE_TARGET)} |",
        f"| content scan, with the journal, one file changed since the last scan: whole `scan_tree(root)` | "
        f"{m['changed_fast']:.3f} | the full path's warm scan {m['warm']:.3f} s | "
        f"{m['changed_fast'] / m['warm']:.2f}x | none | - |",
        f"| the journal's sync alone (`watch.sync`: a question over the socket, a cookie file seen back) | "
        f"{m['sync']:.4f} | - | - | none | - |",
        f"| content scan, warm, full path: whole `scan_tree(root, watch=False)`, unchanged tree | {m['warm']:.3f} | "
        f"{both} | {m['warm'] / m['git']:.1f}x; {m['warm'] / m['walk']:.1f}x | none | - |",
        f"| content stage alone, warm, full path (warm total minus names scan; timed directly: {m['stage']:.3f} s) | "
        f"{stage:.3f} | `os.lstat` of every file {m['lstat']:.3f} s | {stage / m['lstat']:.1f}x | "
        f"< {STAGE_TARGET:g} s | {met(stage, STAGE_TARGET)} |",
    ]
    growth = "\n".join(
        f"| {g['files']:,}{' (a watcher started by hand)' if g['files'] < watch.WATCH_FROM else ''} | "
        f"{g['names_fast']:.3f} | {g['names']:.3f} | {g['names_cold']:.3f} | "
        f"{g['exclude_fast']:.3f} | {g['exclude']:.3f} | {g['warm_fast']:.3f} | {g['warm']:.3f} | "
        f"{g['warm_fast'] - g['names_fast']:.3f} | {g['warm'] - g['names']:.3f} | {g['changed_fast']:.3f} | "
        f"{g['cold']:.1f} | {'-' if g['alone'] is None else round(g['alone'], 1)} | "
        f"{g['lstat']:.3f} | {g['walk']:.3f} | {g['watcher']['ready']:.2f} | {g['watcher'].get('rss_mb', 0):.0f} | "
        f"{g['others']:.0%} |"
        for g in by_size)
    notes = []
    if stage_fast >= STAGE_TARGET:
        notes.append(f"The warm content stage with the journal misses {STAGE_TARGET:g} s.")
    notes.append(f"On the full path the warm content stage takes {stage:.2f} s: to see that no file changed it "
                 f"must `stat()` every file (a file's content can change without its directory changing), and "
                 f"`os.lstat` of {m['files']:,} files alone costs {m['lstat']:.2f} s here (git's own "
                 f"`git diff-files` pays the same, in C); it adds to that the parse of its "
                 f"{m['cache_mb']:.1f} MB cache. With the journal, an unchanged tree costs a sync with the "
                 f"watcher, the small memo of the last result, and git's status of the findings' files; one "
                 f"changed file costs the parse of the caches and a `stat` of the files the journal names.")
    notes.append("The cold content scan reads with detect-secrets only the files one of its plugins' own "
                 "expressions matches (`aishell_runner/scan/prefilter.py`; a plain YAML file's reading is told "
                 "from the file itself, not from PyYAML), while the rest of the tree is still read, and finds "
                 "what detect-secrets alone finds: its findings were checked equal to those of detect-secrets run "
                 "on every file"
                 + (", in the same run." if m["alone"] else " (on the trees where it ran)."))
    if m["cold"] >= COLD_TARGET:
        notes.append(f"The cold content scan misses {COLD_TARGET:g} s.")
    if m["names_fast"] >= NAMES_TARGET:
        notes.append(f"The warm names scan misses {NAMES_TARGET:g} s (its {runs} runs took "
                     f"{min(m['samples']['names_fast']):.2f} to {max(m['samples']['names_fast']):.2f} s).")
    return (
        "## Sensitive-file scan\n\n"
        f"A generated git repository of {m['files']:,} committed files ({m['tracked']:,} listed by `git ls-files`) "
        f"in {m['directories']:,} directories: mostly source files of a few hundred bytes, some JSON, YAML and "
        f"Markdown, 6 planted sensitive files, and a git-ignored `node_modules` of {m['vendored']:,} files that "
        f"the scan skips. Findings: {m['found']}. Seconds, median of {runs} runs unless said; ratio is ours / "
        "baseline, all measured in the same run; every warm scan's findings were checked equal to the cold "
        "scan's. \"With the journal\": the tree's watcher answers (`aishell_runner/scan/watch.py`, started by "
        "the cold scan, as on any tree of 20,000 files or more); \"full path\": `watch=False`, every file "
        "stat-ed, as on a smaller tree or wherever the journal cannot vouch.\n\n"
        "| measure | median s | baseline | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n"
        + "\n".join(rows) + "\n\n"
        "The walk is remembered per directory (`aishell_runner/scan/walk.py`): a directory whose ctime is the "
        "one remembered holds the same names, so a warm scan on the full path stats the directories, and the "
        "files whose verdict depends on their first bytes (JSON, PEM), instead of listing the tree; the name "
        f"rules' verdicts and `exclude:` are remembered with it ({m['walk_mb']:.1f} MB here). "
        + " ".join(notes) + "\n\n"
        "How each cost grows with the tree (seconds, medians; the same generator, the same runs; \"j.\" with "
        "the journal, \"full\" the full path):\n\n"
        "| files | names, warm, j. | names, warm, full | names, cold | exclude, warm, j. | exclude, warm, full | "
        "whole warm scan, j. | whole warm scan, full | content stage, warm, j. | content stage, warm, full | "
        "one file changed, j. | content, cold | detect-secrets alone | `os.lstat` all | `os.walk` | "
        "watcher ready after (s) | watcher's memory (MB) | others' CPU |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | "
        "--- |\n"
        + growth + "\n\n"
        f"Machine: {os.cpu_count()} cores (`os.cpu_count()`); the cold content scan ran {m['scanner']} in "
        f"{os.cpu_count()} worker processes. 'others' CPU' is the share of the CPUs that other processes kept "
        "busy during the timed rounds (from /proc/stat). 'watcher ready after': from the end of the cold scan "
        "that started the watcher until it answered (its watches in place, in the background; the scan does not "
        "wait for it). Below 20,000 files a scan starts no watcher, and takes the full path: the \"j.\" figures "
        "of such a tree are those of a watcher started by hand."
    )


if __name__ == "__main__":
    main()
