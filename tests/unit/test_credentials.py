"""credentials.py: placeholders and the broker's session entries (the broker itself is proven in
tests/integration/test_credential_broker.py)."""

import json
import stat

from aishell_runner import credentials
from aishell_runner.settings.model import Credential


def test_a_placeholder_has_the_values_length_and_form_and_nothing_else_of_it():
    value = "sk-ant-api03-" + "x" * 40
    first, second = credentials.placeholder(value), credentials.placeholder(value)
    assert len(first) == len(value) and first.startswith("sk-ant-api03-")
    assert first != second and "x" * 8 not in first
    short = "abc123"  # too short to keep a form: all of it random
    assert len(credentials.placeholder(short)) == len(short) and credentials.placeholder(short) != short
    assert credentials.placeholder("AIza" + "y" * 35).startswith("AIza")


def test_declared_credentials_replace_an_agents_own_of_the_same_variable():
    gateway = Credential("ANTHROPIC_API_KEY", ("llm.example.com",), None, None)
    github = Credential("GITHUB_TOKEN", ("api.github.com",), "Authorization", "token {value}")
    known = credentials.brokered([gateway, github])
    assert known["ANTHROPIC_API_KEY"] is gateway and known["GITHUB_TOKEN"] is github
    assert known["OPENAI_API_KEY"].hosts == ("api.openai.com",)


def test_a_sessions_entry_is_the_users_alone_holds_only_what_the_host_has_and_goes_with_the_session(tmp_path):
    wanted = {name: credentials.BUILTIN[name] for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    swaps = credentials.open_session(tmp_path, "s1", wanted, {"ANTHROPIC_API_KEY": "sk-ant-" + "k" * 30},
                                     upstream="http://127.0.0.1:8080")
    assert [swap.credential.variable for swap in swaps] == ["ANTHROPIC_API_KEY"]  # OPENAI_API_KEY is not set
    entry_file = tmp_path / "sessions" / "s1.json"
    assert stat.S_IMODE(entry_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "sessions").stat().st_mode) == 0o700
    entry = json.loads(entry_file.read_text())
    assert entry["upstreams"] == {"api.anthropic.com": "http://127.0.0.1:8080"}
    assert entry["credentials"][0]["placeholder"] == swaps[0].placeholder
    assert not list((tmp_path / "sessions").glob(".new-*")), "a draft was left behind"
    assert credentials.forget_gone(tmp_path, live_sessions={"s1"}) == []
    assert credentials.forget_gone(tmp_path, live_sessions=set()) == ["s1"]
    assert not entry_file.exists()


def test_no_credential_on_the_host_writes_no_entry(tmp_path):
    assert credentials.open_session(tmp_path, "s2", dict(credentials.BUILTIN), {}, upstream=None) == []
    assert not (tmp_path / "sessions").exists()


def test_an_agent_without_a_credential_or_a_login_of_its_own_is_named(tmp_path):
    variables = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
    why = credentials.missing("claude", variables, ["TERM"], tmp_path)
    assert why and "ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN" in why
    assert credentials.missing("claude", variables, ["CLAUDE_CODE_OAUTH_TOKEN"], tmp_path) is None
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / ".credentials.json").write_text("{}")
    assert credentials.missing("claude", variables, [], tmp_path) is None  # signed in inside, earlier
    assert credentials.missing("opencode", ("OPENAI_API_KEY",), [], tmp_path) is None  # local models need none


def test_an_upstream_that_does_not_answer_is_named_with_its_host_and_port():
    import socket

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert credentials.upstream_problem(f"http://127.0.0.1:{port}/gateway") is None
    why = credentials.upstream_problem(f"http://127.0.0.1:{port}")  # closed now
    assert why and f"127.0.0.1:{port} does not answer" in why
