"""Files written whole or not at all: every cache of aishell-run's (the scan's, the settings') goes through
save(); the credential broker's and the proxy's session entries are drafted by new_draft() too."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO


def new_draft(directory: Path, mode: str = "w") -> IO:
    """A new file for the user alone (0600), `.new-RANDOM` in `directory`, open to write (`mode` "w" or "wb"): the
    writer fills it, then renames or links it into place, so that a reader never meets half a file. (tempfile's
    NamedTemporaryFile does the same, but its imports cost every launch about 3 ms.)"""
    return open(directory / f".new-{os.urandom(8).hex()}", mode.replace("w", "x"),
                opener=lambda path, flags: os.open(path, flags, 0o600))


def save(path: Path, data: bytes) -> bool:
    """`data` at `path`, private to the user: a draft beside it, then a rename, so a reader never meets half a
    file. False when it could not be written: what is not kept is made again next time."""
    draft = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with new_draft(path.parent, "wb") as draft:
            draft.write(data)
        os.replace(draft.name, path)
        return True
    except OSError:
        if draft is not None:
            Path(draft.name).unlink(missing_ok=True)
        return False


def save_json(path: Path, value: object) -> bool:
    """`value` as compact JSON (ASCII: a name that is not valid UTF-8 holds lone surrogates, which only \\u
    escapes can carry), by save()."""
    return save(path, json.dumps(value, separators=(",", ":")).encode())
