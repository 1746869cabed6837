"""Property tests: whatever is in a settings file, load_settings returns Settings or raises SettingsError."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aishell_runner import settings as aishell_settings
from aishell_runner.settings import Settings, SettingsError, load_settings

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Known key names (at every level) make generated documents reach the deeper checks, not just "unknown key".
KEYS = [*sorted(aishell_settings._KEY_PATHS), "harnes", "ro", "x"]
# Values that exercise mounts, ports, env and paths, including the risky and malformed ones.
TEXTS = [
    "claude", "shell", "docker", "auto", "registry", "latest", "1.2.3", "512m", "2g", "0m",
    "8080:80", "127.0.0.1:80:80", "999.1.1.1:1:1", "0:80", "99999:1", "A=1", "A", "1A=x", "A=",
    "~", "~/", "~/.ssh", "~nobody/x", "/", "/etc", "/etc/hosts", "/var/run/docker.sock", ".", "..", "data",
    "data:/d:ro", "data:rel", "data:/", "a:b:c:d", ":", "::ro", "$(id)", "x;y", "a\nb", "\t", "",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(TEXTS),
    st.text(max_size=20),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=10))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=25,
)
# Top-level mappings built from the real keys, so most examples get past the first checks.
shaped = st.dictionaries(st.sampled_from(KEYS), documents, max_size=6)


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    # One directory for all examples (each overwrites the file): a function-scoped tmp_path would be shared anyway.
    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "home"
        project = home / "proj"
        (project / ".aishell").mkdir(parents=True)
        (project / "data").mkdir()
        (home / ".ssh").mkdir()
        yield project


def load(project: Path, allow_risky_mounts: bool = False):
    home = project.parent
    try:
        result = load_settings(
            project,
            system_file=home / "no-system.yaml",
            user_file=home / "no-user.yaml",
            allow_risky_mounts=allow_risky_mounts,
            environ={"HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run")},
        )
    except SettingsError as error:
        # Every refusal says where: the file is always known for a file that was read.
        assert error.file is not None and str(error.file) in error.message
        assert error.exit_code == 2
        return error
    assert isinstance(result, Settings)
    return result


def config(project: Path) -> Path:
    return project / ".aishell" / "config.yaml"


@FUZZ
@given(doc=documents)
def test_any_yaml_document(project, doc):
    config(project).write_text(yaml.safe_dump(doc, allow_unicode=True))
    load(project)


@FUZZ
@given(doc=shaped, risky=st.booleans())
def test_any_document_made_of_known_keys(project, doc, risky):
    config(project).write_text(yaml.safe_dump(doc, allow_unicode=True))
    load(project, allow_risky_mounts=risky)


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text(project, text):
    config(project).write_text(text, encoding="utf-8")
    load(project)


@FUZZ
@given(data=st.binary(max_size=200))
def test_any_bytes(project, data):
    config(project).write_bytes(data)
    load(project)


@FUZZ
@given(text=st.lists(st.sampled_from([*"ab:- \n\t[]{}&*!|>'\"#%@,?~0.", "harness", "mounts", "<<"]), max_size=40))
def test_yaml_punctuation_soup(project, text):
    config(project).write_text("".join(text))
    load(project)
