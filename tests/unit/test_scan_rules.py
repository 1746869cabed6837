"""Name and path rules: one planted file per rule, decoys that must stay quiet, vendored trees, custom rules,
the allowlist, and git's view of each finding. Real files in a temporary tree; contents are not scanned here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from aishell_runner.scan import NameRules, Rule, ScanResult, scan_tree
from aishell_runner.scan.rules import BUILTIN_RULES, EXAMPLES

PRIVATE_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----\n"
EC_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk\n-----END EC PRIVATE KEY-----\n"
OPENSSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkq\n-----END CERTIFICATE-----\n"
SERVICE_ACCOUNT = ('{\n  "type": "service_account",\n  "project_id": "demo",\n'
                   '  "private_key_id": "abc",\n  "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n"\n}\n')

# path -> (severity, rule): exactly one file per rule (or per way of reaching it), nothing else is reported.
PLANTED: dict[str, tuple[str, str]] = {
    # high
    "home/.ssh/id_rsa": ("high", "ssh-private-key"),
    "id_ed25519": ("high", "ssh-private-key"),
    "keys/id_ecdsa": ("high", "ssh-private-key"),
    "keys/old/id_dsa": ("high", "ssh-private-key"),
    "deploy/server.ppk": ("high", "putty-private-key"),
    "certs/server.pem": ("high", "private-key-file"),
    "tls/site.key": ("high", "private-key-file"),
    "tls/ssh-host.pem": ("high", "private-key-file"),
    "store/client.p12": ("high", "key-store"),
    "store/client.pfx": ("high", "key-store"),
    "android/app.jks": ("high", "key-store"),
    "android/release.keystore": ("high", "key-store"),
    ".aws/credentials": ("high", "aws-credentials"),
    "home/me/.aws/credentials": ("high", "aws-credentials"),
    ".config/gcloud/application_default_credentials.json": ("high", "gcp-credentials"),
    "deploy/ci-bot.json": ("high", "gcp-credentials"),  # a service-account key, found by its contents
    "config/credentials.json": ("high", "gcp-credentials"),  # the sniffed high beats the name's medium
    ".azure/accessTokens.json": ("high", "azure-credentials"),
    "home/.azure/msal_token_cache.bin": ("high", "azure-credentials"),
    "infra/terraform.tfstate": ("high", "terraform-state"),
    "infra/terraform.tfstate.backup": ("high", "terraform-state"),
    ".pypirc": ("high", "pypirc"),
    ".netrc": ("high", "netrc"),
    ".git-credentials": ("high", "git-credentials"),
    "config/master.key": ("high", "rails-master-key"),
    # medium
    ".env": ("medium", "dotenv"),
    "app/.env.production": ("medium", "dotenv"),
    ".envrc": ("medium", "envrc"),
    "certs/ca.pem": ("medium", "key-file"),
    "tls/chain.key": ("medium", "key-file"),
    ".kube/config": ("medium", "kubeconfig"),
    ".docker/config.json": ("medium", "docker-config"),
    "web/.npmrc": ("medium", "npm-token"),
    "web/.yarnrc.yml": ("medium", "npm-token"),
    ".pgpass": ("medium", "pgpass"),
    ".my.cnf": ("medium", "mysql-config"),
    "config/secrets.yml": ("medium", "secrets-file"),
    "secret.txt": ("medium", "secrets-file"),
    "api/token.json": ("medium", "token-file"),
    "credentials.xml": ("medium", "credentials-file"),
    # low: examples are low even when the name alone would be medium
    ".env.example": ("low", "example-file"),
    "config/database.yml.sample": ("low", "example-file"),
    "config/secrets.yml.example": ("low", "example-file"),
}

CONTENTS = {
    "certs/server.pem": PRIVATE_PEM,
    "tls/site.key": EC_KEY,
    "tls/ssh-host.pem": CERTIFICATE + OPENSSH_KEY,  # a bundle: the private key anywhere in the head counts
    "certs/ca.pem": CERTIFICATE,
    "tls/chain.key": CERTIFICATE,
    "deploy/ci-bot.json": SERVICE_ACCOUNT,
    "config/credentials.json": SERVICE_ACCOUNT,
    "web/.npmrc": "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=npm_abcdef0123456789\n",
    "web/.yarnrc.yml": 'npmRegistryServer: "https://registry.yarnpkg.com"\nnpmAuthToken: "npm_abcdef0123456789"\n',
    ".docker/config.json": '{"auths": {}}\n',
}

# Files that look a little like the planted ones and must give no finding.
DECOYS = {
    "home/.ssh/id_rsa.pub": "ssh-rsa AAAAB3NzaC1yc2E me@host\n",
    "home/.ssh/known_hosts": "github.com ssh-ed25519 AAAA\n",
    "docs/id_rsa.md": "how to make a key\n",
    "README.md": "# demo\n",
    ".npmrc": "registry=https://registry.npmjs.org/\nsave-exact=true\n",
    "src/tokenizer.py": "def tokenize(): ...\n",
    "notes/secretary.txt": "call the secretary\n",
    "src/my_env.py": "ENV = 1\n",
    "data/plain.json": '{"type": "example", "items": [1, 2]}\n',
    "data/account.json": '{"type": "service_account", "project_id": "no key here"}\n',
    "environment.yml": "name: demo\n",
    ".aws/config": "[default]\nregion = eu-west-1\n",
    "infra/main.tf": 'resource "x" "y" {}\n',
    "src/credentials_test.py": "def test(): ...\n",
    "src/env.py": "X = 1\n",
    "app/.environment": "x\n",
    "app/.yarnrc.yml.d": "x\n",
}


def make_tree(root: Path, files: dict[str, str], contents: dict[str, str] | None = None) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((contents or {}).get(relative, text))


def by_path(result: ScanResult) -> dict[str, tuple[str, str]]:
    return {finding.path: (finding.severity, finding.rule) for finding in result.findings}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    root = tmp_path_factory.mktemp("planted")
    make_tree(root, {path: "placeholder\n" for path in PLANTED}, CONTENTS)
    make_tree(root, DECOYS)
    return scan_tree(root, content=False)


def test_every_builtin_rule_is_planted() -> None:
    # A new rule in rules.py without a planted file here fails this, so the table stays complete.
    rules = {rule.id for rule in (EXAMPLES, *BUILTIN_RULES)} | {"private-key-file", "key-file", "npm-token"}
    assert {rule for _, rule in PLANTED.values()} == rules


@pytest.mark.parametrize(("path", "expected"), sorted(PLANTED.items()), ids=[f"{r}:{p}" for p, (_, r) in
                                                                              sorted(PLANTED.items())])
def test_planted_file_is_found(planted: ScanResult, path: str, expected: tuple[str, str]) -> None:
    assert by_path(planted).get(path) == expected


@pytest.mark.parametrize("path", sorted(DECOYS))
def test_decoy_is_not_reported(planted: ScanResult, path: str) -> None:
    assert path not in by_path(planted)


def test_exactly_the_planted_files(planted: ScanResult) -> None:
    assert by_path(planted) == PLANTED
    assert planted.files == len(PLANTED) + len(DECOYS)
    assert planted.skipped == [] and planted.allowlisted == 0 and planted.content_scanner is None
    assert all(finding.source == "name" and finding.line is None and finding.preview is None
               for finding in planted.findings)


def test_findings_sorted_by_severity_then_path(planted: ScanResult) -> None:
    order = [(("high", "medium", "low").index(f.severity), f.path) for f in planted.findings]
    assert order == sorted(order)


def test_outside_git_tracked_and_ignored_are_none(planted: ScanResult) -> None:
    assert {(finding.tracked, finding.ignored) for finding in planted.findings} == {(None, None)}


def test_name_rules_ignore_case(tmp_path: Path) -> None:
    make_tree(tmp_path, {"ID_RSA": "x", "Store.P12": "x", ".ENV": "x", "Secrets.JSON": "{}"})
    assert by_path(scan_tree(tmp_path, content=False)) == {
        "ID_RSA": ("high", "ssh-private-key"), "Store.P12": ("high", "key-store"),
        ".ENV": ("medium", "dotenv"), "Secrets.JSON": ("medium", "secrets-file"),
    }


def test_single_file_root(tmp_path: Path) -> None:
    make_tree(tmp_path, {"keys/id_rsa": "x", "keys/.env": "x"})
    result = scan_tree(tmp_path / "keys" / "id_rsa", content=False)
    assert by_path(result) == {"id_rsa": ("high", "ssh-private-key")}
    assert result.files == 1 and result.root == str(tmp_path / "keys")


# ------------------------------------------------------------------------------------------- vendored trees

VENDORED = ["node_modules", "web/node_modules", ".git", ".venv", "venv", "build", "dist", "target", "vendor",
            "__pycache__", ".tox", ".terraform"]


def test_vendored_and_generated_trees_are_skipped_and_listed(tmp_path: Path) -> None:
    files = {f"{tree}/pkg/id_rsa": "x" for tree in VENDORED}
    files |= {"py/env/pyvenv.cfg": "home = /usr/bin\n", "py/env/lib/.env": "x", "web/src/.env": "x"}
    make_tree(tmp_path, files)
    result = scan_tree(tmp_path, content=False)
    assert by_path(result) == {"web/src/.env": ("medium", "dotenv")}
    assert {(s.path, s.reason) for s in result.skipped} == {
        (tree, "vendored or generated tree") for tree in [*VENDORED, "py/env"]
    }
    assert result.files == 1


def test_a_file_named_like_a_vendored_tree_is_still_scanned(tmp_path: Path) -> None:
    make_tree(tmp_path, {"build": "x", "tools/node_modules": "x", "secrets.build": "x"})
    result = scan_tree(tmp_path, content=False)
    assert result.files == 3 and result.skipped == []
    assert by_path(result) == {"secrets.build": ("medium", "secrets-file")}


# --------------------------------------------------------------------------------------------- custom rules


def test_custom_rules_add_findings(tmp_path: Path) -> None:
    make_tree(tmp_path, {"ops/vault.hcl": "x", "deep/x/y.corp": "x", "ops/keys/a/b.txt": "x", "keys/c.txt": "x",
                         "id_rsa": "x"})
    rules = NameRules([Rule("vault-config", "high", ("vault.hcl",)),
                       Rule("corp-file", "low", ("*.corp", "ops/keys/")),
                       Rule("mine", "medium", ("id_rsa",))])  # a built-in high rule still wins
    assert by_path(scan_tree(tmp_path, rules=rules, content=False)) == {
        "ops/vault.hcl": ("high", "vault-config"), "deep/x/y.corp": ("low", "corp-file"),
        "ops/keys/a/b.txt": ("low", "corp-file"), "id_rsa": ("high", "ssh-private-key"),
    }


def test_custom_rule_beats_builtin_of_same_severity_and_is_beaten_by_lower_rank(tmp_path: Path) -> None:
    make_tree(tmp_path, {".env": "x", ".pgpass": "x", ".netrc": "x"})
    rules = NameRules([Rule("my-dotenv", "medium", (".env",)), Rule("escalate", "high", (".pgpass",)),
                       Rule("downplay", "low", (".netrc",))])
    assert by_path(scan_tree(tmp_path, rules=rules, content=False)) == {
        ".env": ("medium", "my-dotenv"), ".pgpass": ("high", "escalate"), ".netrc": ("high", "netrc"),
    }


def test_custom_rule_descriptions() -> None:
    rules = NameRules([Rule("vault", "high", ("*.vault",), "HashiCorp tokens"), Rule("bare", "low", ("*.x",))])
    assert rules.descriptions["vault"] == "HashiCorp tokens"
    assert rules.descriptions["bare"] == "a custom rule"
    assert rules.descriptions["ssh-private-key"] == "an SSH private key"


def test_no_rules_means_builtin_only(tmp_path: Path) -> None:
    make_tree(tmp_path, {"x.vault": "x", "id_rsa": "x"})
    assert by_path(scan_tree(tmp_path, rules=NameRules(), content=False)) == {"id_rsa": ("high", "ssh-private-key")}


# ------------------------------------------------------------------------------------------------ allowlist


def test_allowlist_by_glob_and_by_fingerprint(tmp_path: Path) -> None:
    make_tree(tmp_path, {"tests/fixtures/id_rsa": "x", "tests/fixtures/deep/.env": "x", "certs/a.pem": "x",
                         "certs/b.pem": "x", "id_ed25519": "x", ".envrc": "x"})
    everything = scan_tree(tmp_path, content=False)
    assert len(everything.findings) == 6 and everything.allowlisted == 0
    fingerprint = next(f.fingerprint for f in everything.findings if f.path == "id_ed25519")
    result = scan_tree(tmp_path, content=False, allow=["tests/fixtures/**", "CERTS/A.PEM", fingerprint])
    assert by_path(result) == {"certs/b.pem": ("medium", "key-file"), ".envrc": ("medium", "envrc")}
    assert result.allowlisted == 4


def test_allowlist_name_glob_matches_at_any_depth(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a/.env": "x", "b/c/.env": "x", ".env.production": "x"})
    result = scan_tree(tmp_path, content=False, allow=[".env"])
    assert by_path(result) == {".env.production": ("medium", "dotenv")}
    assert result.allowlisted == 2


def test_fingerprint_is_stable_and_unknown_fingerprint_allows_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path, {"id_rsa": "x"})
    first = scan_tree(tmp_path, content=False).findings[0].fingerprint
    (tmp_path / "id_rsa").write_text("changed")
    assert scan_tree(tmp_path, content=False).findings[0].fingerprint == first
    assert len(first) == 16 and int(first, 16) >= 0
    result = scan_tree(tmp_path, content=False, allow=["0123456789abcdef"])
    assert len(result.findings) == 1 and result.allowlisted == 0


# ------------------------------------------------------------------------------------------------------ git


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    make_tree(repo, {".gitignore": "secrets.*\nlocal/\n", "app/.env": "x", "app/secrets.yml": "x",
                     "local/id_rsa": "x", "id_ed25519": "x", "config/master.key": "x"})
    git(repo, "add", ".gitignore", "app/.env", "config/master.key")
    git(repo, "add", "-f", "app/secrets.yml")  # tracked although ignored: tracked, not reported as ignored
    return repo


def test_git_status_of_findings(repo: Path) -> None:
    result = scan_tree(repo, content=False)
    status = {finding.path: (finding.tracked, finding.ignored) for finding in result.findings}
    assert status == {
        "app/.env": (True, False),
        "config/master.key": (True, False),
        "app/secrets.yml": (True, False),
        "local/id_rsa": (False, True),
        "id_ed25519": (False, False),
    }
    assert (".git", "vendored or generated tree") in {(s.path, s.reason) for s in result.skipped}


def test_git_status_when_scanning_a_subdirectory(repo: Path) -> None:
    make_tree(repo, {"app/secrets.json": "{}", "app/token.txt": "x"})
    result = scan_tree(repo / "app", content=False)
    status = {finding.path: (finding.tracked, finding.ignored) for finding in result.findings}
    assert status == {".env": (True, False), "secrets.yml": (True, False),
                      "secrets.json": (False, True), "token.txt": (False, False)}


def test_git_status_of_a_name_that_is_not_utf8(repo: Path) -> None:
    name = os.fsdecode(b"token.\xff")
    (repo / name).write_text("x")
    (repo / os.fsdecode(b"token.\xfe")).write_text("x")
    git(repo, "add", name)
    status = {finding.path: (finding.tracked, finding.ignored) for finding in scan_tree(repo, content=False).findings}
    assert status[name] == (True, False)
    assert status[os.fsdecode(b"token.\xfe")] == (False, False)


def test_git_status_in_a_repository_without_findings(repo: Path) -> None:
    clean = repo / "clean"
    make_tree(clean, {"README.md": "x"})
    result = scan_tree(clean, content=False)
    assert result.findings == [] and result.files == 1


def test_git_status_follows_the_index_and_reads_it_only_when_it_changed(repo: Path, tmp_path: Path,
                                                                         git_calls) -> None:
    cache = tmp_path / "cache"

    def status() -> tuple[dict[str, tuple[bool | None, bool | None]], int]:
        git_calls()
        findings = scan_tree(repo, content=False, cache_dir=cache).findings
        return ({f.path: (f.tracked, f.ignored) for f in findings}, sum("ls-files" in line for line in git_calls()))

    first, asked = status()
    assert first["id_ed25519"] == (False, False) and asked == 1
    assert status() == (first, 0)  # the same index: its answer is remembered
    git(repo, "add", "id_ed25519")
    assert status() == ({**first, "id_ed25519": (True, False)}, 1)
    git(repo, "rm", "-q", "--cached", "id_ed25519")
    assert status() == (first, 1)
    (repo / "deploy.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\n")  # another finding: other paths to ask
    changed, asked = status()
    assert changed["deploy.pem"] == (False, False) and asked == 1


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b"{}", b'{"key": 1}', b'{"key": null, "root": 2, "paths": 3}'])
def test_a_damaged_memo_of_gits_answer_is_asked_again(repo: Path, tmp_path: Path, damage: bytes) -> None:
    cache = tmp_path / "cache"

    def status() -> dict[str, tuple[bool | None, bool | None]]:
        return {f.path: (f.tracked, f.ignored) for f in scan_tree(repo, content=False, cache_dir=cache).findings}

    expected = status()
    (memo,) = cache.glob("*.git.json")
    memo.write_bytes(damage)
    assert status() == expected
