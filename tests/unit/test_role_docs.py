"""Every role's defaults, argument spec and README say the same (tools/role_docs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("role_docs", ROOT / "tools" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

ROLES = role_docs.roles()


def test_every_role_has_an_argument_spec():
    with_tasks = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/tasks/main.yml"))
    assert [role.name for role in ROLES] == with_tasks


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_every_default_is_documented_with_the_same_value(role):
    options = role_docs.argument_specs(role)["main"].get("options") or {}
    for name, value in role_docs.defaults(role).items():
        assert name in options, f"{role.name}: {name} is in defaults/main.yml but not in meta/argument_specs.yml"
        assert "default" in options[name], f"{role.name}: the spec of {name} gives no default"
        assert options[name]["default"] == value, f"{role.name}: {name} defaults differ"


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_every_spec_default_is_in_defaults(role):
    defaults = role_docs.defaults(role)
    for entry, spec in role_docs.argument_specs(role).items():
        for name, option in (spec.get("options") or {}).items():
            if "default" in option:
                assert name in defaults, f"{role.name} ({entry}): {name} has a spec default, none in defaults/main.yml"
                assert defaults[name] == option["default"], f"{role.name} ({entry}): {name} defaults differ"


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_every_spec_option_is_role_prefixed_and_described(role):
    for spec in role_docs.argument_specs(role).values():
        for name, option in (spec.get("options") or {}).items():
            assert name.startswith(role.name + "_"), name
            assert option.get("description"), f"{role.name}: {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_the_readme_table_is_what_the_spec_says(role):
    readme = role / "README.md"
    assert readme.exists(), f"run `python tools/role_docs.py` to write {readme.relative_to(ROOT)}"
    assert readme.read_text(encoding="utf-8") == role_docs.rendered(role), (
        f"{readme.relative_to(ROOT)} is out of date: run `python tools/role_docs.py`"
    )


def test_the_table_lists_each_option_with_its_default(tmp_path):
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    short_description: A demo.\n    options:\n"
        "      demo_list: {type: list, elements: str, default: [a], description: A | pipe.}\n"
        "      demo_mode: {type: str, choices: [x, y], default: x, description: Mode.}\n"
        "      demo_name: {type: str, required: true, description: Needed.}\n"
    )
    table = role_docs.table(role)
    assert "| `demo_list` | list of str | `[a]` | A \\| pipe. |" in table
    assert "| `demo_mode` | str | `x` | Mode. One of `x`, `y`. |" in table
    assert "| `demo_name` | str | required | Needed. |" in table
    # A README of the role's own keeps its text; only the section between the markers is replaced.
    (role / "README.md").write_text(f"# Mine\n\nProse.\n\n{role_docs.BEGIN}\nold\n{role_docs.END}\n\nMore prose.\n")
    rendered = role_docs.rendered(role)
    assert rendered.startswith("# Mine\n\nProse.\n\n")
    assert rendered.endswith("\n\nMore prose.\n")
    assert "old" not in rendered
