"""A cache file written whole or not at all: every cache of aishell-run's (the scan's, the settings') goes
through here."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def save(path: Path, data: bytes) -> bool:
    """`data` at `path`, private to the user: a draft beside it, then a rename, so a reader never meets half a
    file. False when it could not be written: what is not kept is made again next time."""
    draft = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=".new-", delete=False) as draft:  # 0600
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
