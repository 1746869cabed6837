"""The check of a system settings layer with aishell-run's own loader (schema and locks), as a filter: filters
run on the controller, where aishell-run's Python code is, whatever host the play targets.

The code is the aishell_runner package that came with these roles: the checkout's, the installed wheel's
(the roles are its aishell_runner/_data), or the copy inside the Ansible collection aishell.sandbox, whose
plugins/filter/ holds this same file. So the collection needs no pip install of aishell-run, only the
Python packages its settings code imports (PyYAML, packaging: ansible-core's own; jsonschema).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError


def _aishell_runner():
    """Put the aishell_runner next to these roles first on sys.path (once), so its version matches theirs."""
    # The first folder above this file that holds the package: a checkout, the collection's root, or (for
    # the wheel, where the roles are aishell_runner/_data) site-packages.
    for top in Path(__file__).resolve().parents[:6]:
        if (top / "aishell_runner" / "__init__.py").is_file():
            if str(top) not in sys.path:
                sys.path.insert(0, str(top))
            break
    try:
        import aishell_runner
    except ImportError as error:
        raise AnsibleFilterError(f"aishell-run's Python code is missing next to its roles: {error}") from None
    return aishell_runner


def aishell_settings_problem(text: str, name: str) -> str:
    """'' when the settings layer `text` passes, else its "error: ..." and "hint: ..." lines, naming the file
    `name` (e.g. host:/etc/aishell/config.yaml), as aishell-run would print them."""
    _aishell_runner()
    try:
        from aishell_runner.settings import locks as settings_locks
    except ImportError as error:  # e.g. jsonschema not installed for the controller's Python
        raise AnsibleFilterError(f"aishell-run's settings check cannot load: {error}") from None
    return settings_locks.check_text(str(text), str(name))[1]


class FilterModule:
    def filters(self):
        return {"aishell_settings_problem": aishell_settings_problem}
