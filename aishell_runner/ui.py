"""Terminal output: colours only on a terminal without NO_COLOR, one JSON document for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape


class UI:
    def __init__(self, *, json_mode: bool = False, no_color: bool = False):
        self.json_mode = json_mode
        self.json_emitted = False
        # https://no-color.org: present with any value, even empty. (Rich itself
        # ignores an empty NO_COLOR, hence the explicit check.) Off a terminal,
        # rich writes no colour codes anyway.
        colour_off = no_color or "NO_COLOR" in os.environ
        # Human progress and messages go to stderr, so stdout stays clean for
        # results (and carries exactly one JSON document with --json).
        self.err = Console(stderr=True, no_color=colour_off, highlight=False)
        self.out = Console(no_color=colour_off, highlight=False)

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    def emit_json(self, document: Any) -> None:
        """Print the command's one JSON document on stdout (a second one would break `jq` and friends)."""
        if self.json_emitted:
            raise RuntimeError("a JSON document was already printed")
        self.json_emitted = True
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()

    def error(self, message: str, hint: str | None = None) -> None:
        # Messages quote Ansible and paths: no markup in them.
        self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        if hint:
            self.err.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=True)

    @contextmanager
    def progress(self, title: str) -> Iterator[Callable[[str], None]]:
        """Yields a callback that shows the step now running, on stderr.

        A spinner on a terminal; plain lines when stderr is a log; nothing in
        JSON mode off a terminal (scripts read stdout, and stderr stays for errors).
        """
        if self.interactive:
            with self.err.status(title) as status:
                yield lambda step: status.update(f"{title}: [bold]{escape(step)}[/]")  # task names may hold [brackets]
        elif self.json_mode:
            yield lambda step: None
        else:
            self.err.print(title)
            yield lambda step: self.err.print(f"  - {step}", soft_wrap=True, markup=False)
