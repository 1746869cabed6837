"""What a launch does with the scan's findings.

High findings stop the launch until the user says so: at a terminal they are
asked (launch anyway, hide those files, or stop); off a terminal the launch is
refused with exit 3 unless `--accept-findings` is given or the findings are
allowlisted in the settings. Medium findings are shown as warnings. Every
decision goes to an audit log.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

from .. import audit
from ..errors import EXIT_REFUSED, AishellError
from ..settings import Settings
from ..ui import UI, escape
from . import Finding, NameRules, Rule, ScanResult, display, scan_tree
from .globs import compile_globs

LOG_EVERY_SECONDS = 5  # how often a scan's progress is written when stderr is not a terminal


class ScanRoot(NamedTuple):
    """A host path that will be mounted, and where the sandbox sees it."""

    source: Path
    target: Path


class Located(NamedTuple):
    """A finding, with where its file appears inside the sandbox."""

    finding: Finding
    target: str  # where the file appears inside the sandbox

    @property
    def shown(self) -> str:
        return display(self.target)


def rules_from(settings: Settings) -> NameRules:
    return NameRules(Rule(rule.id, rule.severity, rule.patterns, rule.description) for rule in settings.scan.rules)


def review(roots: list[ScanRoot], settings: Settings, *, project: Path, harness: str, accept: bool,
           ui: UI) -> list[str]:
    """Scan what will be mounted and decide. Returns the sandbox paths the user chose to hide."""
    found = _scan(roots, settings, ui)
    hidden_already = compile_globs(settings.exclude)
    found = [item for item in found if not (hidden_already and _hidden_by_exclude(item, project, hidden_already))]
    high = [item for item in found if item.finding.severity == "high"]
    medium = [item for item in found if item.finding.severity == "medium"]
    if not high and not medium:
        return []
    if medium:
        ui.err.print(f"[yellow]warning:[/] {len(medium)} possibly sensitive file(s) will be visible in the sandbox:")
        _show(ui, medium)
    if not high:
        _audit(project, harness, medium, "warned")
        return []
    ui.err.print(f"[bold red]{len(high)} sensitive file(s)[/] would be visible in the sandbox:")
    _show(ui, high)
    if accept:
        _audit(project, harness, high + medium, "accepted (--accept-findings)")
        return []
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        _audit(project, harness, high + medium, "refused (not interactive)")
        raise AishellError(
            f"refusing to launch: {len(high)} sensitive file(s) would be mounted",
            hint="hide them with `exclude:` in .aishell/config.yaml, allowlist them with `scan: {allow: [...]}`, "
                 "or pass --accept-findings; `aishell-run scan` lists them",
            exit_code=EXIT_REFUSED,
        )
    answer = _ask(ui)
    if answer == "y":
        _audit(project, harness, high + medium, "accepted at the prompt")
        return []
    if answer == "h":
        _audit(project, harness, high + medium, "hidden at the prompt")
        ui.err.print("Hidden for this session; to hide them every time, add to .aishell/config.yaml:\n  exclude: ["
                     + ", ".join(json.dumps(display(item.finding.path)) for item in high) + "]")
        return sorted({item.target for item in high})
    _audit(project, harness, high + medium, "refused at the prompt")
    raise AishellError("launch cancelled: sensitive files would be mounted", exit_code=EXIT_REFUSED)


def _scan(roots: list[ScanRoot], settings: Settings, ui: UI) -> list[Located]:
    rules = rules_from(settings)
    located = []
    with contextlib.ExitStack() as stack:
        show, shown_at = None, 0.0

        def progress(done: int, total: int) -> None:
            # Shown only when files must be read: a warm launch prints nothing and imports no rich. A log (no
            # terminal) gets a line every few seconds and the last, not one per hundred files.
            nonlocal show, shown_at
            if show is None:
                show = stack.enter_context(ui.progress("Scanning file contents for secrets"))
            elif not ui.interactive and done < total and time.monotonic() - shown_at < LOG_EVERY_SECONDS:
                return
            shown_at = time.monotonic()
            show(f"{done}/{total} files")

        for root in roots:
            result: ScanResult = scan_tree(root.source, rules=rules, allow=settings.scan.allow,
                                           content=settings.scan.content, progress=progress)
            # A mounted single file is scanned from its directory: its findings sit at the mount target itself.
            base = root.target.parent if root.source.is_file() else root.target
            located += [Located(finding, os.path.join(base, finding.path)) for finding in result.findings]
    return located


def _hidden_by_exclude(item: Located, project: Path, excluded) -> bool:
    relative = os.path.relpath(item.target, project)
    return not relative.startswith("..") and bool(excluded.match(display(relative)))


def _show(ui: UI, items: list[Located]) -> None:
    for item in items:
        finding = item.finding
        where = f":{finding.line}" if finding.line else ""
        git = {True: "tracked by git", False: "not tracked"}.get(finding.tracked, "not in git")
        if finding.ignored:
            git = "ignored by git"
        preview = f" [{finding.preview}…]" if finding.preview else ""
        ui.err.print(f"  {finding.severity:<6} {escape(item.shown)}{where}  {finding.rule}{escape(preview)}  ({git}, "
                     f"fingerprint {finding.fingerprint})", soft_wrap=True, highlight=False)


def _ask(ui: UI) -> str:
    try:
        answer = ui.err.input("Launch anyway? [y]es, [h]ide these files in the sandbox, [N]o: ")
    except (EOFError, KeyboardInterrupt):
        return "n"
    return answer.strip().lower()[:1] or "n"


def _audit(project: Path, harness: str, items: list[Located], decision: str) -> None:
    audit.record(project, harness, decision,
                 findings=[{"fingerprint": item.finding.fingerprint, "severity": item.finding.severity,
                            "rule": item.finding.rule, "path": item.shown} for item in items])
