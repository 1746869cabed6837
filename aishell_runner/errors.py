"""Errors that end a command with one readable message, a hint and an exit status."""

from __future__ import annotations

# Exit statuses shared by every subcommand.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_ENGINE_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130


class AishellError(Exception):
    """A failure the user can act on: `message` says what, `hint` says how to fix it."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(AishellError):
    exit_code = EXIT_USAGE
