"""The prefilter before detect-secrets passes over a file only when detect-secrets itself finds nothing in it.

Every check here runs the real detect-secrets beside the prefilter: generated files (secrets' shapes, INI, YAML,
keywords in any case, text that is not ASCII) and every one of its plugins' expressions.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aishell_runner.scan import content, prefilter

pytest.importorskip("detect_secrets")
from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings, get_plugins
from detect_secrets.transformers import get_transformed_file

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
BASE64 = string.ascii_letters + string.digits + "+/=_-"
# Pieces of lines: what secrets, keywords, INI and YAML look like, and what sits around them.
PIECES = [
    "password", "PassWord", "secret", "api_key", "apikey", "db_pass", "pwd", "contraseña", "token", "key",
    "AKIA", "ghp_", "glpat-", "sk_live_", "xoxb-", "eyJ", "SG.", "AccountKey=", "-----BEGIN RSA PRIVATE KEY-----",
    "https://user:", "@host", "://", "aws", "ibm_cloud_iam", "cloudant", "softlayer", "_authToken=",
    "=", " = ", ":", ": ", "=>", ":=", '"', "'", " ", "\t", "[", "]", "[global]", "#", ";", "- ", "!!binary ",
    "|", ">", "\\", "\\n", "İ", "\u017f", "\u212a", "é", "x", "1", "0x", "12345678:",
]


def _plugin_expressions() -> list:
    """What detect-secrets' own plugins match: their expressions, to generate text near and at secrets."""
    from detect_secrets.plugins import keyword

    with default_settings():
        plugins = list(get_plugins())
    expressions = [pattern for plugin in plugins for pattern in getattr(plugin, "denylist", ())]
    expressions += [plugin.regex for plugin in plugins if hasattr(plugin, "entropy_limit")]
    return expressions + [pattern for table in keyword.REGEX_BY_FILETYPE.values() for pattern in table]


shapes = st.one_of([st.from_regex(pattern) for pattern in _plugin_expressions()])
runs = st.text(alphabet=st.sampled_from(BASE64), min_size=1, max_size=60)
lines = st.lists(st.one_of(st.sampled_from(PIECES), runs, shapes), max_size=6).map("".join)
indents = st.sampled_from(["", "", "  ", "    ", "\t"])
texts = st.lists(st.tuples(indents, lines).map("".join), min_size=1, max_size=12).map("\n".join)
NAMES = ["a.py", "a.js", "a.go", "a.yaml", "a.yml", "a.ini", "a.cfg", "a.conf", "a.toml", "a.properties",
         "a.tf", "a.example", "a.md", "a.env", "a", ".env", "a.json"]


@pytest.fixture(scope="module")
def searches() -> list:
    with default_settings():
        return prefilter._searches(get_plugins(), content.NOT_SECRETS)


@pytest.fixture
def detect_secrets() -> Iterator[None]:
    with default_settings():
        yield


def findings(path: Path) -> list:
    return [secret for secret in scan_file(str(path)) if secret.type not in content.NOT_SECRETS]


def written(factory: pytest.TempPathFactory, name: str, text: str) -> Path:
    path = factory.mktemp("file") / name
    path.write_text(text)
    return path


@FUZZ
@given(name=st.sampled_from(NAMES), text=texts)
def test_a_file_passed_over_holds_nothing_detect_secrets_reports(tmp_path_factory: pytest.TempPathFactory,
                                                                 name: str, text: str) -> None:
    path = written(tmp_path_factory, name, text)
    with default_settings():
        could_report = prefilter.for_plugins(get_plugins(), ignored=content.NOT_SECRETS)
        found = findings(path)
        assert could_report(str(path)) or not found, found


def test_the_prefilter_is_on_and_passes_over_plain_code(tmp_path: Path, detect_secrets: None) -> None:
    """Not a prefilter that lets every file through: ordinary code and data are passed over."""
    could_report = prefilter.for_plugins(get_plugins(), ignored=content.NOT_SECRETS)
    files = {"main.py": 'import os\n\n\ndef main(name: str = "world") -> int:\n    return len(name)\n',
             "data.json": '{"id": 1, "enabled": true}\n', "notes.md": "# Notes\n\n- one item\n",
             "deploy.yaml": "name: app\nreplicas: 3\n", "setup.cfg": "[metadata]\nname = app\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert not could_report(str(tmp_path / name)), name
        assert not findings(tmp_path / name)
    secret = tmp_path / "settings.py"
    secret.write_text('DEBUG = True\ndb_password = "Xk29fLq83mZp"\n')
    assert could_report(str(secret)) and findings(secret)


def test_every_plugin_has_a_search(searches: list, detect_secrets: None) -> None:
    """All of detect-secrets' plugins but the dropped one are known: none turned the prefilter off."""
    assert searches is not None
    assert len(searches) > len(list(get_plugins()))  # several plugins have more than one expression


@pytest.mark.parametrize("index", range(48))
def test_every_match_of_a_plugins_expression_holds_one_of_its_words(searches: list, index: int) -> None:
    if index >= len(searches):
        pytest.skip("this detect-secrets has fewer expressions")
    search = searches[index]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(search.pattern))
    def check(text: str) -> None:
        if search.pattern.search(text):
            assert search.finds(text, text.lower() if text.isascii() else None), (text, search.words)

    check()


@pytest.mark.parametrize(("pattern", "words"), [
    (r"api_?key|secret", ("api_key", "apikey", "secret")),
    (r"(?:A3T[A-Z0-9]|AKIA)[0-9A-Z]{16}", ("3T", "KIA")),
    (r"x(?:a|b)-\d+", ("xa-", "xb-")),
    (r"ab(?:c|)d", ("abcd", "abd")),
    (r"(?i)Token", ("token",)),
    ("(?i)\u017fecret", ("ecret",)),  # the long s matches s under IGNORECASE: no word of its own
    (r"[A-Z]{4}", ()),
    (r"(ab)\1", ("ab",)),
    (r"(?:key|pass)(?:word|)", ("key", "pass")),  # 'password' holds 'pass': looked for once
])
def test_the_words_read_off_an_expression(pattern: str, words: tuple[str, ...]) -> None:
    import re

    assert prefilter._needed_words(re.compile(pattern)) == words


@FUZZ
@given(name=st.sampled_from(NAMES), text=texts)
def test_a_file_said_not_to_parse_has_no_ini_or_yaml_reading(tmp_path_factory: pytest.TempPathFactory,
                                                             name: str, text: str) -> None:
    path = written(tmp_path_factory, name, text)
    if prefilter.may_parse(str(path), path.read_text()):
        return
    with default_settings(), path.open() as handle:
        assert get_transformed_file(handle) is None
        handle.seek(0)
        assert get_transformed_file(handle, use_eager_transformers=True) is None


@pytest.mark.parametrize(("name", "text", "parses"), [
    ("a.py", "import os\n", False),
    ("a.py", "# comment\n\n  [section]\nkey = value\n", True),  # INI under any name
    ("a.yaml", "plain words\n", True),
    ("a.md", "key = value\nother: thing\n", True),  # the eager reading of a file of unknown kind
    ("a.md", "key = value\njust words\n", False),
    ("a.go", "key = value\n", False),  # a known kind other than INI is not read eagerly
])
def test_which_files_may_parse(name: str, text: str, parses: bool) -> None:
    assert prefilter.may_parse(name, text) is parses


def test_an_unknown_plugin_turns_the_prefilter_off(tmp_path: Path, detect_secrets: None) -> None:
    class Custom:
        secret_type = "Custom"

    path = tmp_path / "main.py"
    path.write_text("print('hello')\n")
    assert not prefilter.for_plugins(get_plugins())(str(path))
    assert prefilter.for_plugins([*get_plugins(), Custom()])(str(path))


def test_a_file_that_cannot_be_read_goes_to_detect_secrets(tmp_path: Path, detect_secrets: None) -> None:
    """detect-secrets meets the same error and reports it; the prefilter must not hide it."""
    assert prefilter.for_plugins(get_plugins())(str(tmp_path / "gone.py"))


def test_a_file_that_is_not_text_is_passed_over_as_detect_secrets_does(tmp_path: Path,
                                                                      detect_secrets: None) -> None:
    path = tmp_path / "blob.py"
    path.write_bytes(b"password = '\xff\xfe'" + bytes(range(128, 256)))
    assert not findings(path)
    assert not prefilter.for_plugins(get_plugins())(str(path))


def test_the_held_trees_findings_are_unchanged(tmp_path: Path, detect_secrets: None) -> None:
    """test_scan_content's tree, every file of it, with and without the prefilter."""
    from tests.unit.test_scan_content import FILES

    could_report = prefilter.for_plugins(get_plugins(), ignored=content.NOT_SECRETS)
    for relative, text in itertools.chain(FILES.items(), [("config.ini", "[db]\npassword = hunter2hunter2\n")]):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        assert could_report(str(path)) == bool(findings(path)), relative


@pytest.mark.parametrize("text", [
    # 23 different characters (not in order: detect-secrets drops sequences): log2(23) bits each, just over the
    # base64 plugin's 4.5, the shortest string it reports.
    'import os\nvalue = "DbfvuWBPGgr2hFCdlKZswnT"\n',
    # 9 different hex digits, just over the hex plugin's 3 bits.
    "x = 1\nvalue = '1a2b3c4d5'\n",
])
def test_the_edges_of_what_detect_secrets_reports_are_kept(tmp_path: Path, text: str, detect_secrets: None) -> None:
    path = tmp_path / "edge.md"
    path.write_text(text)
    assert findings(path), "not a finding of detect-secrets' own: the case tests nothing"
    assert prefilter.for_plugins(get_plugins(), ignored=content.NOT_SECRETS)(str(path))


def test_an_expression_anchored_at_lines_finds_a_later_line(tmp_path: Path, detect_secrets: None) -> None:
    """A plugin's expression is meant for one line at a time; over the joined lines it still matches each."""
    import re

    from detect_secrets.plugins.base import RegexBasedDetector

    class Anchored(RegexBasedDetector):
        secret_type = "Anchored"
        denylist = (re.compile(r"^token-[0-9]{4}$"),)

    path = tmp_path / "notes.md"
    path.write_text("first line\ntoken-1234   \nlast line\n")
    assert prefilter.for_plugins([Anchored()])(str(path))
    path.write_text("first line\nthe token-1234\n")
    assert not prefilter.for_plugins([Anchored()])(str(path))


# YAML of many shapes (plain, quoted, folded and block values, flows, comments) around secrets' shapes, for the
# reading that is told without PyYAML (prefilter.yaml_reading_told).
YAML_PIECES = [piece for piece in PIECES if piece.isascii()] + [
    "'", "''", '"', "|", "|-", ">", ">+", "- ", "{a: b}", "[1, 2]", "#", " # note", "---", "~", "null", "0x1F",
    "2001-12-14", "1:20", "&a ", "*a", "? ", "__line__", "key: ", "token: ", "password: ", "  "]
yaml_values = st.lists(st.one_of(st.sampled_from(YAML_PIECES), runs, shapes.filter(str.isascii)),
                       max_size=4).map("".join)
yaml_lines = st.tuples(indents, st.sampled_from(["", "- ", "key: ", "token: ", "a b: ", "'q': ", '"k": ', ""]),
                       yaml_values).map("".join)
yaml_texts = st.lists(yaml_lines, min_size=1, max_size=10).map("\n".join)


@FUZZ
@given(name=st.sampled_from(["a.yaml", "a.yml"]), text=yaml_texts)
def test_a_told_yaml_reading_holds_nothing_the_file_lacks(tmp_path_factory: pytest.TempPathFactory, searches: list,
                                                         name: str, text: str) -> None:
    """Every expression that matches the YAML reading detect-secrets makes finds its stretch in the file itself."""
    path = written(tmp_path_factory, name, text)
    if not prefilter.yaml_reading_told(str(path), text):
        return
    with default_settings(), path.open() as handle:
        reading = "\n".join(line.rstrip() for line in get_transformed_file(handle) or handle.readlines())
        found = findings(path)
        assert prefilter.for_plugins(get_plugins(), ignored=content.NOT_SECRETS)(str(path)) or not found, found
    lowered = reading.lower()
    for search in searches:
        if search.finds(reading, lowered):
            assert search.in_yaml_file(text, text.lower()), (search.pattern.pattern, reading)


@pytest.mark.parametrize(("text", "told"), [
    ("name: app\nreplicas: 3\nimage: 'web:1'  # pinned\nargs: [a, b]\nnote: >\n  folded\n  text\n", True),
    ('value: "tab\\there"\n', False),  # an escape
    ("value: !!binary aGVsbG8=\n", False),  # a tag (binary values are read base64-encoded again)
    ("? [a, b]\n: value\n", False),  # a collection as a key: written out as a Python repr
    ("[a, b]: value\n", False),
    ("{a: b}  : value\n", False),
    ("base: &a {x: 1}\n", False),  # an anchor: its alias may be a key
    ("x:\n  __line__: 1\n", False),  # passes for the reading's own records
    ("# config\n[section]\nkey: value\n", False),  # read as INI first
    ("name: caf\u00e9\n", False),  # not ASCII
])
def test_which_yaml_readings_are_told(tmp_path: Path, text: str, told: bool) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(text)
    assert prefilter.yaml_reading_told(str(path), text) is told
    assert not prefilter.yaml_reading_told(str(tmp_path / "a.md"), text)


def test_a_yaml_secret_is_found_without_the_reading(tmp_path: Path, detect_secrets: None) -> None:
    """An unquoted value detect-secrets reads as a quoted high-entropy string, and a key-value secret: reported
    by detect-secrets, and not passed over by the file's own stretches."""
    could_report = prefilter.for_plugins(get_plugins(), ignored=content.NOT_SECRETS)
    for text in ("name: app\nvalue: DbfvuWBPGgr2hFCdlKZswnT\n", "db:\n  password: hunter2hunter2\n"):
        path = tmp_path / "deploy.yaml"
        path.write_text(text)
        assert prefilter.yaml_reading_told(str(path), text)
        assert findings(path), "not a finding of detect-secrets' own: the case tests nothing"
        assert could_report(str(path))
