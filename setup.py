"""The wheel carries what aishell-run reads at run time besides its Python code: ansible.cfg, the
roles, the playbooks (with their plugins) and the local inventory. In the checkout they stay where
Ansible and Molecule expect them, at the top; a build copies them into the package as
aishell_runner/_data, where aishell_runner.paths.install_root() finds them once installed. An
editable install copies nothing: install_root() finds the checkout itself.

Everything else is in pyproject.toml; MANIFEST.in puts the same trees into the sdist, so that
`python -m build` (sdist first, then the wheel from it) carries them too.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# Paths relative to the project root; directories are copied whole (less Python's caches).
# Keep in step with MANIFEST.in and aishell_runner/paths.py INSTALL_DATA.
INSTALL_DATA = ("ansible.cfg", "roles", "playbooks", "inventories/local")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "aishell_runner" / "_data"
        shutil.rmtree(target, ignore_errors=True)  # nothing stale from an earlier build
        for name in INSTALL_DATA:
            source = Path(name)
            if not source.exists():
                raise SystemExit(f"error: {name} is missing from the source tree (see MANIFEST.in)")
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildPyWithData})
