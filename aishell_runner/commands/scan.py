"""`aishell-run scan [PATH]`: the sensitive files a sandbox on PATH would expose."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EXIT_USAGE, AishellError
from ..ui import UI, escape

EPILOG = """\
examples:
  aishell-run scan                      # this project, as a launch would see it
  aishell-run scan --json | jq '.findings[] | select(.severity == "high")'
  aishell-run scan ~/src/api --fail-on medium   # exit 1 when anything medium or worse is found

Accept a finding with `scan: {allow: [<path glob or fingerprint>]}` in .aishell/config.yaml,
or hide the file from the sandbox with `exclude: [<path>]`.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="list sensitive files (keys, credentials, .env, secrets in contents) under a project",
        description="Scan a directory for files an agent should not see: names and paths by rule, contents with "
                    "gitleaks (when on PATH) or detect-secrets. Secrets are never printed whole.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", default=".", help="directory or file to scan (default: this one)")
    parser.add_argument("--no-content", action="store_true", help="names and paths only: skip the content scan")
    parser.add_argument("--fail-on", choices=["high", "medium", "low"],
                        help="exit with status 1 when a finding of this severity or worse is found")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: UI) -> int:
    from ..project import git_toplevel
    from ..scan import scan_tree
    from ..scan.policy import rules_from
    from ..scan.rules import RANK
    from ..settings import load_settings

    target = Path(args.path)
    if not target.exists():
        raise AishellError(f"{args.path} does not exist", hint="pass a directory or file to scan",
                           exit_code=EXIT_USAGE)
    settings = load_settings(git_toplevel((target if target.is_dir() else target.parent).resolve()))
    with ui.progress("Scanning for sensitive files") as show:
        result = scan_tree(target, rules=rules_from(settings), allow=settings.scan.allow,
                           content=settings.scan.content and not args.no_content,
                           progress=lambda done, total: show(f"file contents {done}/{total}"))
    if ui.json_mode:
        ui.emit_json(result.to_json())
    else:
        _print(ui, result)
    failing = args.fail_on and any(RANK[f.severity] <= RANK[args.fail_on] for f in result.findings)
    return 1 if failing else 0


def _print(ui: UI, result) -> None:
    from rich.table import Table

    from ..scan import display
    from ..scan.walk import VENDORED

    if result.findings:
        table = Table(title=f"Sensitive files under {escape(result.root)}")
        for column in ("severity", "path", "rule", "git", "fingerprint"):
            table.add_column(column, overflow="fold", no_wrap=column != "path")
        colour = {"high": "bold red", "medium": "yellow", "low": "dim"}
        for finding in result.findings:
            where = f"{display(finding.path)}:{finding.line}" if finding.line else display(finding.path)
            if finding.preview:
                where += f" ({finding.preview}…)"
            git = "ignored" if finding.ignored else {True: "tracked", False: "untracked"}.get(finding.tracked, "-")
            table.add_row(f"[{colour[finding.severity]}]{finding.severity}[/]", escape(where), finding.rule, git,
                          finding.fingerprint)
        ui.out.print(table)
    else:
        ui.out.print("No sensitive files found.")
    scanner = f"contents by {result.content_scanner}" if result.content_scanner else "names only"
    summary = f"{result.files} files scanned ({scanner})"
    if result.allowlisted:
        summary += f", {result.allowlisted} finding(s) allowlisted"
    if result.binary_files:
        summary += f", {result.binary_files} binary file(s) not read"
    ui.out.print(summary)
    trees = [display(s.path) for s in result.skipped if s.reason == VENDORED]
    if trees:
        ui.out.print(f"Not entered (vendored or generated): {escape(', '.join(trees))}", soft_wrap=True)
    for skipped in result.skipped:
        if skipped.reason != VENDORED:
            ui.out.print(f"skipped {escape(display(skipped.path))}: {escape(skipped.reason)}", soft_wrap=True)
