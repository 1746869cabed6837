"""Whether an INI-style file already says what community.general.ini_file would make it say.

rootless_user.yml sets one key of a user's storage.conf with ini_file; on a converged host the file already
has it, and the module's run (a quarter of a second or more) would change nothing. This answers yes only in the
plain case where ini_file would leave the file as it is: the section appears once and holds exactly one
active line for the option, written exactly as ini_file writes it (`option = value`). Anything else (a
missing or repeated section, a repeated or differently spaced option) is a no, and the module decides.
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"^\s*\[([^\]]*)\]")


def ini_has_line(content: str, section: str, option: str, value: str) -> bool:
    """True when `[section]` appears once and its only active `option` line is `option = value`."""
    headers = 0
    found = []
    current = None
    for line in (content or "").splitlines():
        match = _SECTION.match(line)
        if match:
            current = match.group(1).strip()
            headers += current == section
            continue
        if current == section and re.match(rf"^\s*{re.escape(option)}\s*=", line):
            found.append(line.rstrip("\r\n"))
    return headers == 1 and found == [f"{option} = {value}"]


class FilterModule:
    def filters(self):
        return {"ini_has_line": ini_has_line}
