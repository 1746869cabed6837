"""Which files detect-secrets could report on, told in about 0.1 ms a file (detect-secrets itself takes 1.5 ms).

detect-secrets runs each of its plugins on each line in Python, and nearly every file of a repository holds
nothing any plugin matches. A file is passed over here only when no plugin could report on it, so the findings
stay detect-secrets' own:

- The text searched is what the plugins see: the file's lines, each stripped at its end, joined by newlines, and
  also its INI or YAML reading (detect-secrets quotes the values of a file that parses as such, so that its
  entropy plugins see them) whenever the file could parse as one.
- A regular-expression plugin's own expressions, searched line by line (`re.MULTILINE`) over the joined lines,
  match wherever they match one line.
- Each expression of the keyword plugin holds one of its keywords.
- An entropy plugin reports a quoted run of its characters whose entropy exceeds its limit, and n characters
  carry at most log2(n) bits, so a shorter run never passes.
- A secret type the caller drops (`ignored`) needs no search: a file that holds only such finds adds nothing.
- Before an expression is searched, `in` looks for words one of which every match holds (read off the
  expression's parse: `api_?key` holds `apikey` or `api_key`), many times faster than `re` finds a start.
- A YAML file's reading costs 30 times its search (PyYAML in Python), and it can be told without it: unless the
  file holds what makes the reading hold text the file lacks (an escape, a tag, a collection as a key), the
  reading changes only whitespace, quotes, backslashes and colons ("seams"). A stretch of text without them that
  is in the reading is then in the file, so each expression asks the file for one such stretch that all its
  matches hold: a seamless part of one of its words, or a run of the characters it repeats (`[0-9a-z]{35}`).

A plugin or a reading this module does not know (another version of detect-secrets) turns the prefilter off, and
every file goes to detect-secrets.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

# The first line that is neither blank nor a comment opens a section: the only start ConfigParser accepts.
_INI_SECTION_FIRST = re.compile(r"\A(?:[^\S\n]*(?:[#;][^\n]*)?\n)*[^\S\n]*\[")
# A line ConfigParser rejects, even under the header detect-secrets adds for its eager reading: unindented,
# neither blank nor a comment, no section and no `=` or `:`. One such line fails the whole file.
_NOT_INI_LINE = re.compile(r"^[^\s#;\[=:][^\n=:]*$", re.MULTILINE)
# What detect-secrets' YAML reading changes of a file's text (folded lines, indents, its quotes around each value,
# '' read as ', the backslash it puts before a value's quote, the colon after each key) or puts between its parts.
_YAML_SEAMS = frozenset(" \t\n\r\f\v'\"\\:")
# What makes the reading hold text the file does not: escapes and tags (`\x41`, `!!binary`), keys that are
# collections or aliases of anchored ones (`? `, `[a]: `, `{a: b}: `, `*a :`), which it writes out as Python
# reprs, and a mapping that passes for one of its own records (`__line__`).
_YAML_MAKES_TEXT = re.compile(r"[\\!&]|\?(?:\s|\Z)|[\]}][^\S\n]*:|__line__")


def for_plugins(plugins: Iterable[Any], ignored: Collection[str] = ()) -> Callable[[str], bool]:
    """`could_report(path)` for these detect-secrets plugins; always True when one of them is not known here."""
    from detect_secrets.transformers import get_transformers

    searches = _searches(plugins, ignored)
    known_readings = {"ConfigFileTransformer", "EagerConfigFileTransformer", "YAMLTransformer"}
    if searches is None or {type(reading).__name__ for reading in get_transformers()} != known_readings:
        return lambda path: True
    yaml_told = all(search.in_yaml_file is not None for search in searches)

    def could_report(path: str) -> bool:
        try:
            with open(path) as handle:  # text mode and the locale's encoding, as detect-secrets opens it
                text = handle.read()
                if yaml_told and yaml_reading_told(path, text):
                    lowered = text.lower()
                    return any(search.in_yaml_file(text, lowered) for search in searches)
                texts = _texts(path, text, handle)
        except UnicodeDecodeError:  # detect-secrets passes over such a file too
            return False
        except OSError:
            return True  # detect-secrets meets the same error and says so itself
        for reading in texts:
            lowered = reading.lower() if reading.isascii() else None
            if any(search.finds(reading, lowered) for search in searches):
                return True
        return False

    return could_report


class _Search:
    """One expression, and words one of which is in every text it matches: `in` looks for them many times
    faster than the expression can look for its own start."""

    def __init__(self, pattern: re.Pattern[str]):
        self.pattern = pattern
        self.ignore_case = bool(pattern.flags & re.IGNORECASE)
        self.words = _needed_words(pattern)
        self.in_yaml_file = self._in_yaml_file()

    def _in_yaml_file(self) -> Callable[[str, str], bool] | None:
        """`in_yaml_file(text, lowered)`: whether an ASCII file whose YAML reading is told (yaml_reading_told)
        holds what every match in that reading holds; None when no such stretch is known."""
        parts = [max(_seamless_parts(word), key=len, default="") for word in self.words]
        if parts and all(parts):
            if self.ignore_case:
                return lambda text, lowered: any(part in lowered for part in parts)
            return lambda text, lowered: any(part in text for part in parts)
        run = _needed_run(self.pattern)
        return None if run is None else lambda text, lowered: run.search(text) is not None

    def finds(self, text: str, lowered: str | None) -> bool:
        """`lowered` is the text in lower case when it is ASCII (then lower case and `re.IGNORECASE` agree)."""
        if self.words and (lowered is not None or not self.ignore_case):
            haystack = lowered if self.ignore_case else text
            if not any(word in haystack for word in self.words):
                return False
        return self.pattern.search(text) is not None


def _searches(plugins: Iterable[Any], ignored: Collection[str]) -> list[_Search] | None:
    from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.keyword import DENYLIST, KeywordDetector

    patterns: list[re.Pattern[str]] = []
    for plugin in plugins:
        kind = type(plugin)
        if plugin.secret_type in ignored:
            continue
        if kind in (Base64HighEntropyString, HexHighEntropyString):
            shortest = math.floor(2 ** plugin.entropy_limit) + 1
            patterns.append(re.compile(rf"(['\"])[{re.escape(plugin.charset)}]{{{shortest},}}\1"))
        elif kind is KeywordDetector:
            patterns.append(re.compile("|".join(DENYLIST), re.IGNORECASE))
        elif (issubclass(kind, RegexBasedDetector) and kind.analyze_line is BasePlugin.analyze_line
              and kind.analyze_string in (RegexBasedDetector.analyze_string, JwtTokenDetector.analyze_string)):
            # (JWT's own analyze_string only drops matches that are not well-formed tokens.)
            patterns += [re.compile(pattern.pattern, pattern.flags | re.MULTILINE) for pattern in plugin.denylist]
        else:
            return None
    return [_Search(pattern) for pattern in patterns]


# ----------------------------------------------------------------------------- words every match holds

_MOST_WORDS = 64  # a bigger set of alternatives is not worth looking for one by one


@functools.cache  # parsed once a process, not once a batch of files
def _needed_words(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Words (lower case under re.IGNORECASE) one of which is in every match; () when none can be told.

    Read off the expression's parse (re._parser, the tree `re` compiles): a run of parts that each match one of
    a few known strings, such as `api_?key`, gives the strings the run can match; a choice gives the words of
    each alternative, when each has some. Anything else (a class, a repeat, a back-reference) ends a run.
    """
    try:
        import re._constants as constants  # private to `re`: any surprise in them means no words, not a crash
        import re._parser as parser

        words = _Words(bool(pattern.flags & re.IGNORECASE), constants).needed(
            parser.parse(pattern.pattern, pattern.flags))
    except (ImportError, AttributeError, TypeError, ValueError, re.error, RecursionError):
        return ()
    if not words or not all(words):
        return ()
    # A word that holds another is found only where the other is: looking for it adds nothing.
    return tuple(sorted(word for word in words if not any(other in word for other in words - {word})))


class _Words:
    def __init__(self, ignore_case: bool, constants: Any):
        self.ignore_case = ignore_case
        self.c = constants

    def needed(self, items: Any) -> set[str] | None:
        """Words one of which is in every match of `items` (a sequence), or None."""
        best: set[str] | None = None
        run: set[str] | None = {""}
        for op, arg in [*items, (None, None)]:  # the sentinel ends the last run
            exact = self.exact(op, arg) if op is not None else None
            if exact is not None and run is not None and len(run) * len(exact) <= _MOST_WORDS:
                run = {head + tail for head in run for tail in exact}
                continue
            best = _better(best, run)
            run = exact if exact is not None else {""}
            if op is not None and exact is None:
                best = _better(best, self.needed_in(op, arg))
        return best

    def needed_in(self, op: Any, arg: Any) -> set[str] | None:
        c = self.c
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, items = arg
            return None if add_flags or del_flags else self.needed(items)
        if op is c.BRANCH:
            choices = [self.needed(items) for items in arg[1]]
            return set().union(*choices) if all(choices) else None
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and arg[0] >= 1:
            return self.needed(arg[2])
        return None

    def exact(self, op: Any, arg: Any) -> set[str] | None:
        """Every string this part can match, when they are few and known; zero-width parts match ''."""
        c = self.c
        if op is c.LITERAL:
            char = chr(arg)
            if self.ignore_case and not char.isascii():  # re matches some such letters to ASCII ones
                return None
            return {char.lower() if self.ignore_case else char}
        if op is c.IN and 0 < len(arg) <= 4 and all(kind is c.LITERAL for kind, _ in arg):
            chars = [self.exact(c.LITERAL, code) for _, code in arg]
            return set().union(*chars) if all(chars) else None
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            return {""}
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, items = arg
            return None if add_flags or del_flags else self.sequence(items)
        if op is c.BRANCH:
            choices = [self.sequence(items) for items in arg[1]]
            union = set().union(*choices) if all(choice is not None for choice in choices) else None
            return union if union is not None and len(union) <= _MOST_WORDS else None
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) and arg[:2] == (0, 1):
            inner = self.sequence(arg[2])
            return None if inner is None else inner | {""}
        return None

    def sequence(self, items: Any) -> set[str] | None:
        strings: set[str] = {""}
        for op, arg in items:
            exact = self.exact(op, arg)
            if exact is None or len(strings) * len(exact) > _MOST_WORDS:
                return None
            strings = {head + tail for head in strings for tail in exact}
        return strings


def _seamless_parts(word: str) -> list[str]:
    return re.split("|".join(map(re.escape, _YAML_SEAMS)), word)


def _needed_run(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """An expression for the longest run of one character class every match holds, as it is in a file whose
    YAML reading holds the match (the reading's backslashes stand only before a quote: a run of a class that
    holds the backslash but not the quote can end in one); None when the expression has no such run."""
    try:  # re's private parts, as _needed_words
        import re._compiler as compiler
        import re._constants as c
        import re._parser as parser

        parsed = parser.parse(pattern.pattern, pattern.flags)
        best: re.Pattern[str] | None = None
        longest = 0
        for op, arg in parsed:
            if op not in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) or len(arg[2]) != 1 \
                    or arg[2][0][0] not in (c.IN, c.LITERAL):
                continue
            one = compiler.compile(parser.SubPattern(parsed.state, [(op, (1, 1, arg[2]))]), pattern.flags)
            seams = {char for char in _YAML_SEAMS if one.fullmatch(char)}
            length = arg[0] if not seams else arg[0] - 1 if seams == {"\\"} else 0
            if length > longest:
                longest = length
                best = compiler.compile(parser.SubPattern(parsed.state, [(op, (length, c.MAXREPEAT, arg[2]))]),
                                        pattern.flags)
        return best
    except (ImportError, AttributeError, TypeError, ValueError, IndexError, re.error, RecursionError):
        return None


def _better(best: set[str] | None, candidate: set[str] | None) -> set[str] | None:
    """The more telling of two word sets: the longer shortest word, then the fewer words."""
    def score(words: set[str] | None) -> tuple[int, int]:
        return (min(map(len, words)), -len(words)) if words else (0, 0)

    return candidate if score(candidate) > score(best) else best


def _texts(path: str, text: str, handle: Any) -> list[str]:
    """The texts detect-secrets' plugins would search in the file (as in detect_secrets.core.scan), joined;
    `text` is what `handle` (the open file) holds."""
    from detect_secrets.transformers import get_transformed_file

    if not may_parse(path, text):
        return [_joined(text.split("\n"))]
    handle.seek(0)
    readings = [get_transformed_file(handle) or handle.readlines()]
    handle.seek(0)
    readings.append(get_transformed_file(handle, use_eager_transformers=True) or [])
    return [_joined(lines) for lines in readings]


def yaml_reading_told(path: str, text: str) -> bool:
    """Whether the file's lines and its YAML reading are all detect-secrets searches in it, and the reading holds
    no text the file lacks: a YAML file that no INI reading comes before (no section first), ASCII (for case),
    without what _YAML_MAKES_TEXT names."""
    from detect_secrets.util.filetype import FileType, determine_file_type

    return (text.isascii() and determine_file_type(path) is FileType.YAML and _INI_SECTION_FIRST.match(text) is None
            and _YAML_MAKES_TEXT.search(text) is None)


def may_parse(path: str, text: str) -> bool:
    """Whether detect-secrets could read the file as YAML or INI; when not, its lines are all it searches.

    Asked first because those readings cost more than the search itself (a YAML file, 2 ms).
    """
    from detect_secrets.util.filetype import FileType, determine_file_type

    kind = determine_file_type(path)
    return (kind is FileType.YAML or _INI_SECTION_FIRST.match(text) is not None
            or (kind is FileType.OTHER and _NOT_INI_LINE.search(text) is None))


def _joined(lines: Iterable[str]) -> str:
    return "\n".join(line.rstrip() for line in lines)
