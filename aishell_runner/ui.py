"""Terminal output: colours only on a terminal without NO_COLOR, one JSON document for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class UI:
    def __init__(self, *, json_mode: bool = False, no_color: bool = False):
        self.json_mode = json_mode
        self.json_emitted = False
        # https://no-color.org: present with any value, even empty. (Rich itself
        # ignores an empty NO_COLOR, hence the explicit check.) Off a terminal,
        # rich writes no colour codes anyway.
        self.colour_off = no_color or "NO_COLOR" in os.environ

    # The consoles are made on first use: a warm launch prints nothing of its
    # own and should not pay for importing rich (50 ms).
    @cached_property
    def err(self) -> Console:
        """Human progress and messages: stderr, so stdout stays clean for results and JSON."""
        from rich.console import Console

        return Console(stderr=True, no_color=self.colour_off, highlight=False)

    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        return Console(no_color=self.colour_off, highlight=False)

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
