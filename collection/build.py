"""Build the Ansible collection aishell.sandbox from this checkout, offline:

    python collection/build.py [--output-path DIR]      (default: dist/)

It lays out the collection in a scratch folder and runs `ansible-galaxy collection build` on it:
galaxy.yml, meta/, README.md and CHANGELOG.md from collection/; roles/ and playbooks/*.yml as they are; every
roles/*/filter_plugins/*.py and playbooks/filter_plugins/*.py in plugins/filter/ (collection roles do not
load their own filter_plugins, and look filters up by full name only: so the copies of the roles and
playbooks name them aishell.sandbox.NAME); playbooks/callback_plugins/*.py in plugins/callback/; and the
aishell_runner package, whose settings code the filters of system_settings and fleet.yml run on the controller.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NAMESPACE = "aishell.sandbox"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.py[co]")


def stage(into: Path) -> None:
    """Lay the collection out in `into` (an empty folder)."""
    galaxy = (HERE / "galaxy.yml").read_text()
    version = re.search(r"^version:\s*(\S+)", galaxy, re.M).group(1)
    package = re.search(r'__version__ = "([^"]+)"', (ROOT / "aishell_runner" / "__init__.py").read_text()).group(1)
    if version != package:
        raise SystemExit(f"error: collection/galaxy.yml says version {version}, aishell_runner says {package}: "
                         "make them the same")
    for name in ("galaxy.yml", "README.md", "CHANGELOG.md", "meta"):
        copy(HERE / name, into / name)
    copy(ROOT / "roles", into / "roles")
    copy(ROOT / "aishell_runner", into / "aishell_runner", ignore=shutil.ignore_patterns("__pycache__", "*.py[co]",
                                                                                       "_data"))
    for playbook in sorted((ROOT / "playbooks").glob("*.yml")):
        copy(playbook, into / "playbooks" / playbook.name)
    plugins = {
        "filter": sorted([*ROOT.glob("roles/*/filter_plugins/*.py"), *ROOT.glob("playbooks/filter_plugins/*.py")]),
        "callback": sorted(ROOT.glob("playbooks/callback_plugins/*.py")),
    }
    for kind, files in plugins.items():
        for source in files:
            target = into / "plugins" / kind / source.name
            if target.exists():  # one namespace per kind in a collection
                raise SystemExit(f"error: two {kind} plugins are named {source.name}: rename one")
            copy(source, target)
    qualify_filters(into, [name for source in plugins["filter"] for name in filter_names(source)])


def filter_names(plugin: Path) -> list[str]:
    """The names a filter plugin file defines: the keys of the dict its FilterModule.filters() returns."""
    for node in ast.walk(ast.parse(plugin.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == "filters":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Dict):
                    return [key.value for key in inner.value.keys if isinstance(key, ast.Constant)]
    raise SystemExit(f"error: {plugin} has no FilterModule.filters() returning a dict literal")


def qualify_filters(into: Path, names: list[str]) -> None:
    """`| name` and `map('name')` become `| aishell.sandbox.name` and `map('aishell.sandbox.name')` in the
    roles' and playbooks' YAML and templates."""
    alternatives = "|".join(map(re.escape, names))
    piped = re.compile(rf"\|(\s*)({alternatives})\b")
    mapped = re.compile(rf"(\bmap\(\s*)(['\"])({alternatives})\2")
    for path in [*into.glob("roles/**/*.yml"), *into.glob("roles/**/*.j2"), *into.glob("playbooks/*.yml")]:
        text = path.read_text()
        qualified = mapped.sub(rf"\1\2{NAMESPACE}.\3\2", piped.sub(rf"|\1{NAMESPACE}.\2", text))
        if qualified != text:
            path.write_text(qualified)


def copy(source: Path, target: Path, ignore=IGNORE) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=ignore)
    else:
        shutil.copy2(source, target)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-path", type=Path, default=ROOT / "dist", help="where the tarball goes (dist/)")
    args = parser.parse_args(argv)
    galaxy = shutil.which("ansible-galaxy", path=str(Path(sys.executable).parent)) or shutil.which("ansible-galaxy")
    if galaxy is None:
        raise SystemExit("error: ansible-galaxy is not on PATH: install ansible-core (the project's venv has it)")
    args.output_path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        collection = Path(scratch) / "aishell.sandbox"
        stage(collection)
        done = subprocess.run([galaxy, "collection", "build", "--force", "--output-path",
                               str(args.output_path.resolve()), str(collection)], check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
