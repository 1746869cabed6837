"""Path globs shared by scan rules, the allowlist and `exclude:`.

One meaning everywhere, like .gitignore: a pattern without a slash matches a
name at any depth (`*.pem`, `.env`); a pattern with a slash matches a path
from the project's root (`config/master.key`, `**/.aws/credentials`). `*` and
`?` stop at slashes, `**` crosses them, and a trailing slash or `/**` takes a
whole directory.
"""

from __future__ import annotations

import re


def glob_to_regex(pattern: str) -> str:
    """The regular expression (unanchored text) for one glob."""
    pattern = pattern.strip()
    anchored = "/" in pattern.rstrip("/")
    whole_dir = pattern.endswith(("/", "/**"))
    pattern = pattern.removesuffix("**").rstrip("/") if whole_dir else pattern
    pattern = pattern.lstrip("/")
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    body = "".join(out) + ("(?:/.*)?" if whole_dir else "")
    return body if anchored else f"(?:.*/)?{body}"


def compile_globs(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching a relative path (no leading slash) against any of `patterns`, or None when empty."""
    if not patterns:
        return None
    either = "|".join(f"(?:{glob_to_regex(pattern)})" for pattern in patterns)
    return re.compile(f"(?:{either})\\Z", re.IGNORECASE)
