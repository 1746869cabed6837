"""The credential broker's settings: agents.<name>.upstream and credentials:, only in system or user settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aishell_runner.settings import AgentSettings, Credential, SettingsError
from aishell_runner.settings.checks import VALUE_CHECKS, check_for
from aishell_runner.settings.locks import LockedKeyError
from aishell_runner.settings.origins import explain


def assert_one_error(error: SettingsError, file, line: int, key: str, words: str) -> None:
    assert error.exit_code == 2
    assert (error.file, error.line, error.key) == (file, line, key), error.message
    assert f"{file}:{line}: {key}: " in error.message
    assert words in error.message, error.message
    assert error.hint


# --------------------------------------------------------------------------------------------------- upstream


def test_upstream_defaults_to_none_for_every_agent(layers):
    agents = layers.load().agents
    assert all(agent.upstream is None for agent in agents.values())
    assert agents["claude"] == AgentSettings(None, (), True, None)


@pytest.mark.parametrize(("written", "built"), [
    ("https://llm-gateway.example.com", "https://llm-gateway.example.com"),
    ("https://llm-gateway.example.com/anthropic/", "https://llm-gateway.example.com/anthropic"),
    ("http://127.0.0.1:4000", "http://127.0.0.1:4000"),
    ("http://localhost:8080/v1", "http://localhost:8080/v1"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://gw.example.com:8443/a/b%20c", "https://gw.example.com:8443/a/b%20c"),
])
def test_good_upstreams_build(layers, written, built):
    settings = layers.load(user=f"agents:\n  codex:\n    upstream: '{written}'\n")
    assert settings.agents["codex"].upstream == built
    assert settings.agents["claude"].upstream is None


def test_upstream_in_the_system_layer_builds_and_the_user_layer_wins(layers):
    layers.write(system="agents: {claude: {upstream: 'https://corp-gw.example.com'}}\n")
    assert layers.load().agents["claude"].upstream == "https://corp-gw.example.com"
    layers.write(user="agents: {claude: {upstream: 'http://127.0.0.1:4000'}}\n")
    assert layers.load().agents["claude"].upstream == "http://127.0.0.1:4000"


@pytest.mark.parametrize(("value", "words"), [
    ("ftp://gw.example.com", "is not an http:// or https:// URL"),
    ("gw.example.com", "is not an http:// or https:// URL"),
    ("HTTPS://gw.example.com", "is not an http:// or https:// URL"),
    ("https://user:secret@gw.example.com", "contains a user name or password"),
    ("https://gw.example.com/v1?key=x", "has a query or fragment"),
    ("https://gw.example.com/#top", "has a query or fragment"),
    ("https://gw.example.com:99999", "the port is not a number from 1 to 65535"),
    ("https://gw.example.com:0", "the port is not a number from 1 to 65535"),
    ("https://gw.example.com:http", "the port is not a number from 1 to 65535"),
    ("https://", "is not a URL of the form"),
    ("https:///v1", "is not a URL of the form"),
    ("https://-gw.example.com", "is not a URL of the form"),
    ("https://gw.example.com/a%zz", "is not a URL of the form"),
    ("https://gw example.com", "contains a space"),
    ("http://[::zz]:80", "is not a URL of the form"),
    ("http://[1:2:3]:80", "is not a URL of the form"),
])
def test_a_malformed_upstream_names_file_line_key_with_an_example(layers, value, words):
    error = layers.error(user=f"harness: claude\nagents:\n  gemini:\n    upstream: '{value}'\n")
    assert_one_error(error, layers.user, 4, "agents.gemini.upstream", words)
    assert "e.g. https://" in error.hint


def test_an_upstream_that_is_not_text_is_refused(layers):
    error = layers.error(user="agents:\n  claude:\n    upstream: 8080\n")
    assert_one_error(error, layers.user, 3, "agents.claude.upstream", "expected text")


def test_the_merged_check_catches_a_trailing_newline_the_schema_lets_through(layers):
    error = layers.error(user='agents:\n  claude:\n    upstream: "https://gw.example.com\\n"\n')
    assert_one_error(error, layers.user, 3, "agents.claude.upstream", "control character")


# --------------------------------------------------------------------------------------------------- credentials

GITHUB = """\
credentials:
  - variable: GITHUB_TOKEN
    hosts: [api.github.com]
    header: Authorization
    format: "token {value}"
"""


def test_no_credentials_by_default(layers):
    assert layers.load().credentials == ()


def test_good_credentials_build(layers):
    settings = layers.load(user=GITHUB + """\
  - variable: GITLAB_TOKEN
    hosts: [gitlab.example.com, "*.GitLab.example.com", gitlab.example.com]
    header: PRIVATE-TOKEN
  - {variable: _OTHER, hosts: [api.other.example]}
  - {variable: SERVICE_KEY, hosts: [svc.example], header: x-api-key, format: "{value}"}
""")
    assert settings.credentials == (
        Credential("GITHUB_TOKEN", ("api.github.com",), "Authorization", "token {value}"),
        Credential("GITLAB_TOKEN", ("gitlab.example.com", "*.gitlab.example.com"), "PRIVATE-TOKEN", None),
        Credential("_OTHER", ("api.other.example",), None, None),
        Credential("SERVICE_KEY", ("svc.example",), "x-api-key", "{value}"),
    )


def test_the_nearer_layer_replaces_a_variable_and_layers_add_up(layers):
    layers.write(system="credentials:\n  - {variable: GITHUB_TOKEN, hosts: [github.corp.example]}\n"
                        "  - {variable: NPM_TOKEN, hosts: [registry.npmjs.org], header: Authorization, "
                        "format: 'Bearer {value}'}\n",
                 user=GITHUB)
    credentials = {credential.variable: credential for credential in layers.load().credentials}
    assert credentials["GITHUB_TOKEN"] == Credential("GITHUB_TOKEN", ("api.github.com",), "Authorization",
                                                     "token {value}")
    assert credentials["NPM_TOKEN"].hosts == ("registry.npmjs.org",)
    assert len(credentials) == 2


def test_a_variable_declared_twice_in_one_layer_is_an_error(layers):
    error = layers.error(user=GITHUB + "  - {variable: GITHUB_TOKEN, hosts: [github.com]}\n")
    assert_one_error(error, layers.user, 6, "credentials[1].variable", "GITHUB_TOKEN is declared twice in this file")
    assert "also at line 2" in error.message


def test_the_duplicate_in_the_nearer_layer_is_named_in_its_own_file(layers):
    layers.write(system="credentials:\n  - {variable: A_TOKEN, hosts: [a.example]}\n")
    error = layers.error(user="credentials:\n  - {variable: B, hosts: [b.example]}\n"
                              "  - {variable: B, hosts: [c.example]}\n")
    # The user's items come after the system's in the merged list: the key is as written in the user's file.
    assert (error.file, error.line) == (layers.user, 3)
    assert "B is declared twice in this file (also at line 2)" in error.message


@pytest.mark.parametrize(("item", "line", "key", "words"), [
    ("{variable: 1TOKEN, hosts: [a.example]}", 2, "credentials[0].variable",
     "'1TOKEN' is not a valid environment variable name"),
    ("{variable: 'A=B', hosts: [a.example]}", 2, "credentials[0].variable", "is not a valid environment variable"),
    ("{variable: A, hosts: ['https://a.example']}", 2, "credentials[0].hosts[0]", "is not a host name"),
    ("{variable: A, hosts: ['*']}", 2, "credentials[0].hosts[0]", "is not a host name"),
    ("{variable: A, hosts: [a.example, 'a.example:443']}", 2, "credentials[0].hosts[1]", "is not a host name"),
    ("{variable: A, hosts: []}", 2, "credentials[0].hosts", "needs at least 1 item"),
    ("{variable: A}", 2, "credentials[0]", "missing the key 'hosts'"),
    ("{hosts: [a.example]}", 2, "credentials[0]", "missing the key 'variable'"),
    ("{variable: A, hosts: [a.example], header: 'Authorization:'}", 2, "credentials[0].header",
     "is not an HTTP header name"),
    ("{variable: A, hosts: [a.example], header: 'X Key'}", 2, "credentials[0].header", "is not an HTTP header name"),
    ("{variable: A, hosts: [a.example], format: 'Bearer {value}'}", 2, "credentials[0].format",
     "format needs header too"),
    ("{variable: A, hosts: [a.example], header: Authorization, format: Bearer}", 2, "credentials[0].format",
     "must contain {value} exactly once, not 0 times"),
    ("{variable: A, hosts: [a.example], header: Authorization, format: '{value}:{value}'}", 2,
     "credentials[0].format", "must contain {value} exactly once, not 2 times"),
    ("{variable: A, hosts: [a.example], header: Authorization, format: \"Bearer {value}\\r\\nX: y\"}", 2,
     "credentials[0].format", "control character"),
    ("{variable: A, hosts: [a.example], secret: x}", 2, "credentials[0].secret", "unknown key 'secret'"),
])
def test_a_malformed_credential_names_file_line_and_key(layers, item, line, key, words):
    error = layers.error(user=f"credentials:\n  - {item}\n")
    assert_one_error(error, layers.user, line, key, words)


def test_a_malformed_credential_in_block_form_points_at_its_line(layers):
    error = layers.error(system="credentials:\n  - variable: A\n    hosts:\n      - a.example\n      - a..example\n")
    assert_one_error(error, layers.system, 5, "credentials[0].hosts[1]", "is not a host name")
    assert "*.example.com" in error.hint


def test_credentials_must_be_a_list(layers):
    error = layers.error(user="credentials:\n  variable: A\n")
    assert_one_error(error, layers.user, 1, "credentials", "expected a list")


# --------------------------------------------------------------------------------------------------- not in a project


@pytest.mark.parametrize(("text", "line", "key"), [
    ("engine: docker\nagents:\n  claude:\n    upstream: https://evil.example\n", 4, "agents.claude.upstream"),
    ("agents:\n  opencode: {upstream: 'http://127.0.0.1:4000'}\n", 2, "agents.opencode.upstream"),
    (GITHUB, 1, "credentials"),
    ("credentials: []\n", 1, "credentials"),
    ("network:\n  internal_hosts:\n    db.internal: 10.0.0.5\n", 2, "network.internal_hosts"),
])
def test_a_project_cannot_set_broker_keys(layers, text, line, key):
    error = layers.error(project=text)
    assert_one_error(error, layers.project_file, line, key, "a project's settings cannot")
    assert f"put {key} in ~/.config/aishell/config.yaml or /etc/aishell/config.yaml" == error.hint


@pytest.mark.parametrize(("text", "line", "key"), [
    ("agents:\n  claude:\n    upstream: ftp://evil.example\n", 3, "agents.claude.upstream"),
    ("credentials:\n  - {variable: 1X}\n", 1, "credentials"),
    ("credentials: nothing\n", 1, "credentials"),
])
def test_a_project_is_refused_the_key_whatever_its_value(layers, text, line, key):
    error = layers.error(project=text)
    assert_one_error(error, layers.project_file, line, key, "a project's settings cannot")


def test_a_misshapen_agents_list_is_the_schemas_to_explain(layers):
    error = layers.error(project="agents:\n  - upstream: https://evil.example\n")
    assert_one_error(error, layers.project_file, 1, "agents", "expected a mapping of keys")


def test_a_project_may_still_set_the_agents_other_keys(layers):
    settings = layers.load(user="agents: {claude: {upstream: 'https://gw.example.com'}}\n" + GITHUB,
                           project="agents: {claude: {version: latest, args: [--verbose]}}\n")
    assert settings.agents["claude"] == AgentSettings("latest", ("--verbose",), True, "https://gw.example.com")
    assert [credential.variable for credential in settings.credentials] == ["GITHUB_TOKEN"]


def test_the_cli_exits_2_without_a_traceback(layers):
    layers.write(project="agents:\n  claude:\n    upstream: https://evil.example\n")
    result = subprocess.run([sys.executable, "-m", "aishell_runner.cli", "settings", "--check", "--project",
                             str(layers.project)], capture_output=True, text=True,
                            env={"HOME": str(layers.home), "XDG_CONFIG_HOME": str(layers.home / ".config"),
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{layers.project_file}:3: agents.claude.upstream: " in result.stderr
    layers.write(project="", user="credentials:\n  - {variable: A, hosts: [a.example], format: '{value}'}\n")
    result = subprocess.run([sys.executable, "-m", "aishell_runner.cli", "settings", "--check", "--project",
                             str(layers.project)], capture_output=True, text=True,
                            env={"HOME": str(layers.home), "XDG_CONFIG_HOME": str(layers.home / ".config"),
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{layers.user}:2: credentials[0].format: format needs header too" in result.stderr


# --------------------------------------------------------------------------------------------------- the tables


def test_the_checks_are_paired_with_the_keys_once():
    assert check_for(("agents", "codex", "upstream")) is VALUE_CHECKS[("agents", "*", "upstream")]
    assert check_for(("credentials", 3, "hosts", 0)) is VALUE_CHECKS[("network", "allow", "*")]
    assert check_for(("credentials", 0, "variable")) is not None
    assert check_for(("credentials", 0, "header")) is not None
    assert check_for(("credentials", 0, "format")) is not None


def test_locks_fix_the_new_keys_like_any_other(layers):
    layers.write(system="locks:\n  agents.claude.upstream: {value: 'https://gw.corp.example'}\n"
                        "  credentials: {at_most: []}\n")
    assert layers.load().agents["claude"].upstream == "https://gw.corp.example"
    with pytest.raises(LockedKeyError) as caught:
        layers.load(user="agents: {claude: {upstream: 'http://127.0.0.1:4000'}}\n")
    assert caught.value.file == layers.user and caught.value.key == "agents.claude.upstream"
    layers.write(user="")
    with pytest.raises(LockedKeyError) as caught:
        layers.load(user=GITHUB)
    assert caught.value.file == layers.user and caught.value.key == "credentials[0]"


def test_a_lock_with_a_malformed_upstream_is_refused(layers):
    error = layers.error(system="locks:\n  agents.claude.upstream: {value: 'ftp://gw.corp.example'}\n")
    assert error.file == layers.system and error.line == 2 and error.exit_code == 2


def test_origins_show_the_new_keys(layers):
    layers.write(system="credentials:\n  - {variable: NPM_TOKEN, hosts: [registry.npmjs.org]}\n",
                 user="agents:\n  claude:\n    upstream: https://gw.example.com\n" + GITHUB)
    found = {origin.key: origin for origin in explain(layers.project, system_file=layers.system,
                                                      user_file=layers.user, environ={"HOME": str(layers.home)})}
    assert (found["agents.claude.upstream"].value, found["agents.claude.upstream"].source) == \
        ("https://gw.example.com", f"{layers.user}:3")
    assert (found["agents.codex.upstream"].value, found["agents.codex.upstream"].source) == (None, "default")
    assert found["credentials"].source == f"{layers.system}:2, {layers.user}:5"
    assert [item["variable"] for item in found["credentials"].value] == ["NPM_TOKEN", "GITHUB_TOKEN"]
