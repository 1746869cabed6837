"""`aishell-run check`: a doctor. Every problem comes with its fix."""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.table import Table

from .. import images, platforms
from ..engines import ENGINES, answering, runtimes
from ..engines.base import Engine
from ..errors import EXIT_ENGINE_UNAVAILABLE, EXIT_FAILURE, EXIT_OK, AishellError
from ..ui import UI

NAME = "check"
MIN_FREE_BYTES = 5 * 10**9


@dataclass
class Finding:
    what: str
    ok: bool
    detail: str
    fix: str = ""


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(NAME, help="check engines, storage, CA bundle and disk; each problem with its fix",
                          description="Check that this machine can run sandboxes, and say how to fix what cannot.",
                          epilog="example:\n  aishell-run check --json | jq '.[] | select(.ok | not)'",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def findings() -> list[Finding]:
    found: list[Finding] = []
    engines = answering()
    for name in ENGINES:
        engine = next((engine for engine in engines if engine.name == name), None)
        if engine:
            found.append(Finding(f"{name} engine", True, f"answers, version {engine.version()}"))
        elif shutil.which(name):
            found.append(Finding(f"{name} engine", False, "installed but does not answer",
                                 "sudo aishell-run bootstrap (it starts the engine, with or without systemd)"))
    if not engines:
        found.append(Finding("container engine", False, "neither Docker nor Podman answers",
                             "sudo aishell-run bootstrap"))
    for engine in engines:
        name = engine.name
        driver, root = engine.storage()
        rootless = name == "podman" and os.geteuid() != 0
        slow = driver == "vfs"
        found.append(Finding(f"{name} storage{' (rootless)' if rootless else ''}", not slow, driver,
                             "sudo aishell-run bootstrap --engine podman --rootless-user $USER (overlay storage; "
                             "vfs copies the whole image at every launch)" if slow else ""))
        if root and Path(root).exists():
            free = shutil.disk_usage(root).free
            found.append(Finding(f"{name} free disk", free >= MIN_FREE_BYTES, f"{free / 1e9:.1f} GB free in {root}",
                                 "free some space, or run `aishell-run gc`" if free < MIN_FREE_BYTES else ""))
    if engines:
        wanted = _wanted_runtime()
        found += [_gvisor_finding(engine, wanted) for engine in engines]
    found += [Finding(*row) for row in platforms.findings()]  # Lima VM (macOS), WSL (aishell_runner/platforms/)
    ca = images.ca_bundle_path("auto")
    found.append(Finding("CA bundle", ca is not None, str(ca) if ca else "none found",
                         "" if ca else "install ca-certificates, or build with --ca-bundle PATH"))
    return found


def _wanted_runtime() -> str:
    """security.runtime of the settings here (the current directory's project), runc when they cannot be read:
    `aishell-run settings --check` is the place for their errors."""
    from ..project import find_project
    from ..settings import load_settings

    try:
        return load_settings(find_project(None)).security.runtime
    except AishellError:
        return "runc"


def _gvisor_finding(engine: Engine, wanted: str) -> Finding:
    """Whether the engine has gVisor's runtime: a problem only where the settings ask for runsc."""
    refusal = engine.runtime_refusal(runtimes.GVISOR)
    if refusal is not None:
        return Finding(f"{engine.name} gVisor (runsc)", wanted != runtimes.GVISOR,
                       f"unavailable: {refusal}; security.runtime here: {wanted}",
                       "" if wanted != runtimes.GVISOR else "use rootful Docker or Podman for runsc, or "
                                                             "security.runtime: auto or runc")
    has = runtimes.available(engine, runtimes.GVISOR, fresh=True)
    detail = ("registered" if has else "not registered") + f"; security.runtime here: {wanted}"
    fix = "" if has else runtimes.BOOTSTRAP_HINT.format(engine=engine.name) + " (where the distribution packages runsc)"
    return Finding(f"{engine.name} gVisor (runsc)", has or wanted != runtimes.GVISOR, detail, fix)


def run(args: argparse.Namespace, ui: UI) -> int:
    results = findings()
    if ui.json_mode:
        ui.emit_json([asdict(finding) for finding in results])
    else:
        table = Table(title="aishell-run check")
        for column in ("check", "", "detail", "fix"):
            table.add_column(column, overflow="fold")
        for finding in results:
            table.add_row(finding.what, "[green]ok[/]" if finding.ok else "[red]problem[/]", finding.detail,
                          finding.fix)
        ui.out.print(table)
    if not any(f.ok for f in results if f.what.endswith("engine")):
        return EXIT_ENGINE_UNAVAILABLE
    return EXIT_OK if all(finding.ok for finding in results) else EXIT_FAILURE
