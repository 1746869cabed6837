"""Which file names and paths are sensitive, and how much.

A file gets at most one name finding: the most severe rule that matches. A few
rules look at the first bytes of the file to decide (a `.pem` holding a private
key is high, a certificate is medium, an `.npmrc` without a token is nothing).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .globs import glob_to_regex

SEVERITIES = ("high", "medium", "low")
RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
SNIFF_BYTES = 8192
# Part of every NameRules.fingerprint: change it when a sniff's judgement changes (the patterns are in already).
SNIFF_VERSION = 1

PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
SERVICE_ACCOUNT = re.compile(rb'"type"\s*:\s*"(?:service_account|authorized_user)"')
NPM_TOKEN = re.compile(rb"(?:_authToken|_auth|_password|npmAuthToken)\s*[=:]\s*\S", re.IGNORECASE)


class Rule(NamedTuple):
    """A name rule: path globs, and the severity of a match."""

    id: str
    severity: str
    patterns: tuple[str, ...]
    description: str = ""


# Rules that decide from the file's first bytes: patterns -> sniff(head) -> (rule id, severity) or None.
class SniffRule(NamedTuple):
    """A rule that decides by a file's first bytes, for the names its globs match."""

    patterns: tuple[str, ...]
    sniff: Callable[[bytes], tuple[str, str] | None]


EXAMPLES = Rule("example-file", "low", (".env.example", ".env.sample", "*.example", "*.sample"),
                "an example or sample of a settings file")

BUILTIN_RULES: tuple[Rule, ...] = (
    Rule("ssh-private-key", "high", ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"),
         "an SSH private key"),
    Rule("putty-private-key", "high", ("*.ppk",), "a PuTTY private key"),
    Rule("key-store", "high", ("*.p12", "*.pfx", "*.jks", "*.keystore"), "a key store"),
    Rule("aws-credentials", "high", ("**/.aws/credentials",), "AWS credentials"),
    Rule("gcp-credentials", "high", ("application_default_credentials.json", "**/.config/gcloud/credentials.db",
                                     "**/.config/gcloud/legacy_credentials/**"), "Google Cloud credentials"),
    Rule("azure-credentials", "high", ("**/.azure/accessTokens.json", "**/.azure/azureProfile.json",
                                       "**/.azure/msal_token_cache.*", "**/.azure/service_principal_entries.json"),
         "Azure credentials"),
    Rule("terraform-state", "high", ("terraform.tfstate*",), "Terraform state (holds resource secrets)"),
    Rule("pypirc", "high", (".pypirc",), "PyPI upload credentials"),
    Rule("netrc", "high", (".netrc", "_netrc"), "machine passwords"),
    Rule("git-credentials", "high", (".git-credentials",), "stored git passwords"),
    Rule("rails-master-key", "high", ("master.key",), "the Rails master key"),
    Rule("dotenv", "medium", (".env", ".env.*"), "environment settings, often with secrets"),
    Rule("envrc", "medium", (".envrc",), "direnv settings, often with secrets"),
    Rule("kubeconfig", "medium", ("**/.kube/config", "kubeconfig", "*.kubeconfig"), "Kubernetes credentials"),
    Rule("docker-config", "medium", ("**/.docker/config.json",), "registry credentials"),
    Rule("pgpass", "medium", (".pgpass",), "PostgreSQL passwords"),
    Rule("mysql-config", "medium", (".my.cnf",), "MySQL passwords"),
    Rule("secrets-file", "medium", ("secret.*", "secrets.*"), "a file named as holding secrets"),
    Rule("token-file", "medium", ("token.*",), "a file named as holding a token"),
    Rule("credentials-file", "medium", ("credentials.*",), "a file named as holding credentials"),
)


def _key_file(head: bytes) -> tuple[str, str]:
    return ("private-key-file", "high") if PRIVATE_KEY.search(head) else ("key-file", "medium")


def _json_credentials(head: bytes) -> tuple[str, str] | None:
    return ("gcp-credentials", "high") if SERVICE_ACCOUNT.search(head) and b"private_key" in head else None


def _npm_token(head: bytes) -> tuple[str, str] | None:
    return ("npm-token", "medium") if NPM_TOKEN.search(head) else None


SNIFF_RULES: tuple[SniffRule, ...] = (
    SniffRule(("*.pem", "*.key"), _key_file),
    SniffRule(("*.json",), _json_credentials),
    SniffRule((".npmrc", ".yarnrc.yml"), _npm_token),
)
DESCRIPTIONS = {
    "private-key-file": "a PEM file holding a private key",
    "key-file": "a key or certificate file",
    "npm-token": "an npm registry token",
    **{rule.id: rule.description for rule in (EXAMPLES, *BUILTIN_RULES)},
}


class NameRules:
    """The rules compiled into a few regexes: three matches per file, whatever the number of rules.

    Most patterns are plain names (`*.pem`): they are matched against the file's
    name alone, which is much faster than against its whole path.
    """

    def __init__(self, custom: Iterable[Rule] = ()):
        custom = tuple(custom)
        # Examples first (a `.env.example` is low, not a `.env`), then by severity; custom before built-in.
        ordered = [EXAMPLES, *sorted((*custom, *BUILTIN_RULES), key=lambda rule: RANK[rule.severity])]
        self._rules = {f"r{index}": rule for index, rule in enumerate(ordered)}
        self._sniffers = {f"s{index}": rule.sniff for index, rule in enumerate(SNIFF_RULES)}
        self.descriptions = {**DESCRIPTIONS, **{rule.id: rule.description or "a custom rule" for rule in custom}}
        # What a verdict remembered for a path depends on (the walk's memo keeps verdicts under it).
        rules = [[rule.id, rule.severity, list(rule.patterns)] for rule in ordered]
        sniffs = [list(rule.patterns) for rule in SNIFF_RULES]
        self.fingerprint = hashlib.sha256(json.dumps([SNIFF_VERSION, rules, sniffs]).encode()).hexdigest()[:16]

    # The regexes are compiled when first used: a warm scan takes its verdicts from the walk's memo (under the
    # fingerprint) and never asks, and compiling them costs a launch more than the rest of its scan.
    @functools.cached_property
    def _by_name(self) -> re.Pattern[str]:
        return _alternatives({g: [p for p in r.patterns if _is_name(p)] for g, r in self._rules.items()})

    @functools.cached_property
    def _by_path(self) -> re.Pattern[str]:
        return _alternatives({g: [p for p in r.patterns if not _is_name(p)] for g, r in self._rules.items()})

    @functools.cached_property
    def _sniff_names(self) -> re.Pattern[str]:
        return _alternatives({f"s{index}": list(rule.patterns) for index, rule in enumerate(SNIFF_RULES)})

    def sniffs(self, relative: str) -> bool:
        """Whether the verdict on this path may depend on the file's first bytes."""
        return self._sniff_names.match(relative.rpartition("/")[2]) is not None

    def match(self, relative: str, read_head: Callable[[], bytes | None]) -> tuple[str, str] | None:
        """(rule id, severity) for the file at `relative`, or None. `read_head` gives its first bytes on demand."""
        name = relative.rpartition("/")[2]
        candidates = [self._rules[found.lastgroup] for found in (self._by_name.match(name),
                                                                  self._by_path.match(relative)) if found]
        by_name = min(candidates, key=lambda rule: (rule is not EXAMPLES, RANK[rule.severity]), default=None)
        if by_name and (by_name is EXAMPLES or by_name.severity == "high"):
            return by_name.id, by_name.severity
        sniffer = self._sniff_names.match(name)
        if sniffer:
            # An unreadable file is judged as an empty one: a `.pem` is still a key file (the sandbox may well
            # read what the scan cannot), while a `.json` or `.npmrc` proves nothing.
            verdict = self._sniffers[sniffer.lastgroup](read_head() or b"")
            if verdict and (by_name is None or RANK[verdict[1]] <= RANK[by_name.severity]):
                return verdict
        return (by_name.id, by_name.severity) if by_name else None


def _is_name(pattern: str) -> bool:
    return "/" not in pattern.rstrip("/") and not pattern.endswith("/")


_NEVER = re.compile(r"(?!)")


def _alternatives(groups: dict[str, list[str]]) -> re.Pattern[str]:
    """One regex whose named group tells which entry of `groups` matched first (in dict order)."""
    parts = [f"(?P<{group}>(?:{'|'.join(_bare(p) for p in patterns)})\\Z)" for group, patterns in groups.items()
             if patterns]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else _NEVER


def _bare(pattern: str) -> str:
    """A name pattern without the any-directory prefix (it is matched against a name)."""
    regex = glob_to_regex(pattern)
    return regex.removeprefix("(?:.*/)?") if _is_name(pattern) else regex
