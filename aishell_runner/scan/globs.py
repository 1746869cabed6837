"""Path globs shared by scan rules, the allowlist and `exclude:`.

One meaning everywhere, like .gitignore: a pattern without a slash matches a
name at any depth (`*.pem`, `.env`); a pattern with a slash matches a path
from the project's root (`config/master.key`, `**/.aws/credentials`). `*` and
`?` stop at slashes, `**` crosses them, `[abc]` and `[!abc]` match one
character, and a trailing slash or `/**` takes a whole directory. Matching
ignores case.
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
        elif char == "[" and (end := _class_end(pattern, i)) is not None:
            out.append(_char_class(pattern[i + 1:end]))
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    body = "".join(out) + ("(?:/.*)?" if whole_dir else "")
    return body if anchored else f"(?:.*/)?{body}"


def _class_end(pattern: str, start: int) -> int | None:
    """Where the `[...]` opened at `start` closes; as in git, a `]` first in the class is one of its members."""
    first = start + 1 + pattern.startswith(("!", "^"), start + 1)
    end = pattern.find("]", first + pattern.startswith("]", first))
    return end if end != -1 else None


def _char_class(body: str) -> str:
    """`[!x]` and `[^x]` negate, and no class matches a slash (as in git); a class that is not valid (`[z-a]`)
    stays literal text rather than failing when the patterns are compiled."""
    negate = body.startswith(("!", "^"))
    members = "".join("\\" + char if char in "\\[]^" else char for char in body[negate:])
    regex = f"(?!/)[{'^' if negate else ''}{members}]"
    try:
        re.compile(regex)
    except re.error:
        return re.escape(f"[{body}]")
    return regex


def compile_globs(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching a relative path (no leading slash) against any of `patterns`, or None when empty."""
    if not patterns:
        return None
    either = "|".join(f"(?:{glob_to_regex(pattern)})" for pattern in patterns)
    return re.compile(f"(?:{either})\\Z", re.IGNORECASE)
