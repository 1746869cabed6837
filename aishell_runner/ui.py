"""Terminal output: colours only on a terminal without NO_COLOR, JSON for scripts."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Any

from rich.console import Console


class UI:
    def __init__(self, *, json_mode: bool = False, no_color: bool = False):
        self.json_mode = json_mode
        colour_off = no_color or "NO_COLOR" in os.environ
        # Human progress and messages go to stderr, so stdout stays clean for
        # results (and carries exactly one JSON document with --json).
        self.err = Console(stderr=True, no_color=colour_off, highlight=False)
        self.out = Console(no_color=colour_off, highlight=False)

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")

    def error(self, message: str, hint: str | None = None) -> None:
        self.err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
        if hint:
            self.err.print(f"[yellow]hint:[/] {hint}", soft_wrap=True)

    @contextmanager
    def progress(self, title: str):
        """Yields a callback that shows the step now running.

        A spinner on a terminal; plain lines in logs; nothing in JSON mode.
        """
        if self.json_mode:
            yield lambda step: None
        elif self.interactive:
            with self.err.status(title) as status:
                yield lambda step: status.update(f"{title}: [bold]{step}[/]")
        else:
            self.err.print(title)
            yield lambda step: self.err.print(f"  - {step}", soft_wrap=True)
