"""Scan globs: the .gitignore-like meaning documented in aishell_runner/scan/globs.py, one pattern at a time."""

from __future__ import annotations

import re
import warnings

import pytest

from aishell_runner.scan.globs import compile_globs, glob_to_regex


def matches(pattern: str, path: str) -> bool:
    matcher = compile_globs([pattern])
    assert matcher is not None
    return matcher.match(path) is not None


# (pattern, path, expected): every row names the rule of globs.py it checks.
CASES = [
    # A pattern without a slash is a name, matched at any depth.
    ("*.pem", "server.pem", True),
    ("*.pem", "certs/server.pem", True),
    ("*.pem", "a/b/c/d/server.pem", True),
    ("*.pem", "server.pem.bak", False),
    ("*.pem", "server.pem/inside", False),
    (".env", ".env", True),
    (".env", "app/config/.env", True),
    (".env", "my.env", False),
    (".env", ".envrc", False),
    (".env", "x.env/y", False),
    # A pattern with a slash is anchored at the project's root.
    ("config/master.key", "config/master.key", True),
    ("config/master.key", "app/config/master.key", False),
    ("config/master.key", "config/master.key.bak", False),
    ("/notes.txt", "notes.txt", True),
    ("/notes.txt", "docs/notes.txt", False),
    ("docs/*.md", "docs/a.md", True),
    ("docs/*.md", "docs/sub/a.md", False),
    ("docs/*.md", "other/docs/a.md", False),
    # `*` and `?` stop at slashes.
    ("a*z", "abcz", True),
    ("a*z", "ab/cz", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("a?c", "ac", False),
    ("*", "anything.txt", True),
    ("*", "deep/down/anything.txt", True),  # a name pattern: the last name matches at any depth
    # `**` crosses slashes, `**/` also matches no directory at all.
    ("**/.aws/credentials", ".aws/credentials", True),
    ("**/.aws/credentials", "home/me/.aws/credentials", True),
    ("**/.aws/credentials", "home/me/aws/credentials", False),
    ("**/.aws/credentials", "x.aws/credentials", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/b", True),
    ("a/**/b", "a/x/y/z/b", True),
    ("a/**/b", "ab", False),
    ("a/**/b", "xa/b", False),
    ("a/**/b", "a/b/c", False),
    ("logs/**.txt", "logs/x/y.txt", True),
    ("**", "any/thing/at/all", True),
    # A trailing slash or `/**` takes a whole directory, the directory itself included.
    ("build/", "build", True),
    ("build/", "build/out.o", True),
    ("build/", "build/deep/er/out.o", True),
    ("build/", "src/build/out.o", True),  # still a name: any depth
    ("build/", "builder/out.o", False),
    ("build/", "rebuild", False),
    ("secrets/**", "secrets", True),
    ("secrets/**", "secrets/a", True),
    ("secrets/**", "secrets/a/b/c", True),
    ("secrets/**", "app/secrets/a", False),  # it has a slash: anchored
    ("secrets/**", "secretsx/a", False),
    ("app/secrets/", "app/secrets", True),
    ("app/secrets/", "app/secrets/x/y", True),
    ("app/secrets/", "lib/app/secrets/x", False),
    ("**/fixtures/", "fixtures/a", True),
    ("**/fixtures/", "tests/unit/fixtures", True),
    ("**/fixtures/", "tests/unit/fixtures/a/b", True),
    ("**/fixtures/", "tests/fixtures.py", False),
    # Character classes: `[abc]`, ranges, `[!x]` (and git's `[^x]`) negate; one character, never a slash.
    ("key[0-9].pem", "key7.pem", True),
    ("key[0-9].pem", "keyx.pem", False),
    ("key[0-9].pem", "key10.pem", False),
    ("id_[rd]sa", "id_rsa", True),
    ("id_[rd]sa", "id_dsa", True),
    ("id_[rd]sa", "id_esa", False),
    ("file[!0-9].txt", "filea.txt", True),
    ("file[!0-9].txt", "file1.txt", False),
    ("file[!0-9].txt", "file.txt", False),
    ("file[^0-9].txt", "file1.txt", False),
    ("file[^0-9].txt", "fileb.txt", True),
    ("a[!x]b", "a/b", False),
    # Case does not matter (macOS and Windows file systems, people's habits).
    ("*.PEM", "server.pem", True),
    ("*.pem", "SERVER.PEM", True),
    ("Config/Master.Key", "config/master.key", True),
    ("file[a-c].txt", "FILEB.TXT", True),
    (".ENV", "sub/.env", True),
    # Everything else is literal: regex metacharacters mean themselves.
    ("a+b.txt", "a+b.txt", True),
    ("a+b.txt", "aab.txt", False),
    ("a.txt", "abtxt", False),
    ("(x)|y", "(x)|y", True),
    ("(x)|y", "y", False),
    ("$HOME", "$HOME", True),
    ("  .env  ", "a/.env", True),  # surrounding spaces are ignored
]


@pytest.mark.parametrize(("pattern", "path", "expected"), CASES, ids=[f"{p!r}~{t!r}" for p, t, _ in CASES])
def test_glob(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


# Brackets that do not make a valid class stay literal text; they must never break compiling the settings' globs.
ODD_BRACKETS = [
    ("[]", "[]", True),
    ("[!]", "[!]", True),
    ("a[", "a[", True),
    ("a]", "a]", True),
    ("[z-a]", "[z-a]", True),
    ("[z-a]", "z", False),
    ("a[]]b", "a]b", True),  # `]` first in a class is a member, as in git and fnmatch
    ("a[!]]b", "a]b", False),
    ("a[!]]b", "acb", True),
    ("x[[]y", "x[y", True),
    ("x[\\]y", "x\\y", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), ODD_BRACKETS, ids=[p for p, _, _ in ODD_BRACKETS])
def test_odd_brackets_compile_and_match_literally(pattern: str, path: str, expected: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "possible nested set" FutureWarning from re either
        assert matches(pattern, path) is expected


def test_no_patterns_is_no_matcher() -> None:
    assert compile_globs([]) is None
    assert compile_globs(()) is None


def test_several_patterns_match_any_of_them() -> None:
    matcher = compile_globs(["*.pem", "config/master.key", "build/"])
    assert matcher is not None
    hits = [path for path in ("a/x.pem", "config/master.key", "build/out", "README.md", "app/config/master.key")
            if matcher.match(path)]
    assert hits == ["a/x.pem", "config/master.key", "build/out"]


def test_whole_path_must_match() -> None:
    # compile_globs anchors at both ends: a match inside a longer path is not a match.
    assert not matches("*.pem", "x.pem.txt")
    assert not matches("config/master.key", "config/master.keys")


def test_regex_text_is_unanchored_and_reusable() -> None:
    # glob_to_regex gives text for bigger alternations (rules.py joins many): it must compile on its own.
    for pattern, path, expected in CASES:
        regex = re.compile(f"(?:{glob_to_regex(pattern)})\\Z", re.IGNORECASE)
        assert (regex.match(path) is not None) is expected, (pattern, path)
