"""Agents' sandbox profiles: what flows from the host's configuration into them, and nothing back."""

import json
import os
import shutil
import tomllib
from pathlib import Path

import pytest

from aishell_runner import profiles
from aishell_runner.agents import AGENTS, CLAUDE_POLICY, REGISTRY
from aishell_runner.errors import AishellError


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A host home with Claude Code's configuration; profiles and policies under directories of their own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    home = tmp_path / "home"
    (home / ".claude" / "commands").mkdir(parents=True)
    (home / ".claude" / "CLAUDE.md").write_text("be brief\n")
    (home / ".claude" / "commands" / "review.md").write_text("review it\n")
    (home / ".claude" / ".credentials.json").write_text('{"claudeAiOauth": {"accessToken": "sk-ant-oat-x"}}')
    (home / ".claude" / "settings.json").write_text(json.dumps({
        "model": "opus", "apiKeyHelper": "~/bin/key", "env": {"ANTHROPIC_API_KEY": "sk-ant-x", "DEBUG": "1"},
        "hooks": {"Stop": []}}))
    (home / ".claude.json").write_text('{"mcpServers": {"host-one": {}}}')
    return home


def profile(agent="claude"):
    return profiles.profile_dir(agent)


PROJECT = Path("/src/my project")


def prepare(agent, home, autonomous=True, environ=None):
    profiles.prepare(agent, home, autonomous=autonomous, project=PROJECT, environ=environ or {})


def test_the_profile_gets_the_hosts_instructions_and_settings_but_no_credential(host):
    prepare("claude", host)
    copy = profile() / ".claude"
    assert (copy / "CLAUDE.md").read_text() == "be brief\n"
    assert (copy / "commands" / "review.md").read_text() == "review it\n"
    settings = json.loads((copy / "settings.json").read_text())
    assert settings == {"model": "opus", "env": {"DEBUG": "1"}, "hooks": {"Stop": []}}
    assert not (copy / ".credentials.json").exists()
    # The agent's own state file is the profile's, not a copy of the host's: past its first-run screens.
    assert json.loads((copy / ".claude.json").read_text()) == {"hasCompletedOnboarding": True}
    assert oct((profile() / ".claude").stat().st_mode & 0o777) == "0o700"


def test_what_the_sandbox_wrote_stays_and_what_it_changed_of_the_hosts_copies_does_not(host):
    prepare("claude", host)
    copy = profile() / ".claude"
    (copy / "history.jsonl").write_text("session one\n")
    (copy / "CLAUDE.md").write_text("planted instruction\n")
    (copy / "commands" / "planted.md").write_text("run this\n")
    (copy / ".claude.json").write_text('{"mcpServers": {"planted": {}}}')
    prepare("claude", host)
    assert (copy / "history.jsonl").read_text() == "session one\n"
    assert (copy / "CLAUDE.md").read_text() == "be brief\n"
    assert not (copy / "commands" / "planted.md").exists()
    assert "planted" in (copy / ".claude.json").read_text()  # the profile's own state lasts
    # ... and the host's configuration never changed.
    assert (host / ".claude" / "CLAUDE.md").read_text() == "be brief\n"
    assert sorted(p.name for p in (host / ".claude" / "commands").iterdir()) == ["review.md"]
    assert "planted" not in (host / ".claude.json").read_text()


def test_a_change_on_the_host_reaches_the_next_launch_and_a_removal_too(host):
    prepare("claude", host)
    (host / ".claude" / "CLAUDE.md").write_text("be thorough\n")
    os.utime(host / ".claude" / "CLAUDE.md", ns=(1, 1))
    (host / ".claude" / "commands" / "review.md").unlink()
    prepare("claude", host)
    assert (profile() / ".claude" / "CLAUDE.md").read_text() == "be thorough\n"
    assert list((profile() / ".claude" / "commands").iterdir()) == []


def test_links_a_sandbox_left_in_the_profile_are_never_followed(host, tmp_path):
    prepare("claude", host)
    victim = tmp_path / "bashrc"
    victim.write_text("original\n")
    copy = profile() / ".claude"
    (copy / "CLAUDE.md").unlink()
    (copy / "CLAUDE.md").symlink_to(victim)
    (copy / "commands").rename(copy / "gone")
    (copy / "commands").symlink_to(tmp_path)
    prepare("claude", host)
    assert victim.read_text() == "original\n"
    assert (copy / "CLAUDE.md").read_text() == "be brief\n" and not (copy / "CLAUDE.md").is_symlink()
    assert not (copy / "commands").is_symlink() and (tmp_path / "bashrc").exists()


@pytest.mark.parametrize("damage", ["link", "kind", "state-link", "state-not-json", "state-not-object"])
def test_a_damaged_profile_stops_the_launch_naming_the_path(host, tmp_path, damage):
    prepare("claude", host)
    path = profile() / ".claude"
    if damage.startswith("state"):
        path = path / ".claude.json"
    path.unlink() if damage.startswith("state") else shutil.rmtree(path)
    if damage in ("link", "state-link"):
        path.symlink_to(host / ".claude.json")
    elif damage == "kind":
        path.write_text("{}")
    else:
        path.write_text("[1, 2" if damage == "state-not-json" else "[1, 2]")
    with pytest.raises(AishellError) as caught:
        prepare("claude", host)
    assert str(path) in caught.value.message
    assert f"mv {path} {path}.damaged" in caught.value.hint


def test_no_host_configuration_gives_an_empty_profile(host, tmp_path):
    for agent in AGENTS:
        prepare(agent, tmp_path / "no-home")
        for relative in REGISTRY[agent].profile:
            assert (profile(agent) / relative).is_dir()


@pytest.mark.skipif(os.getuid() == 0, reason="root reads every file")
def test_an_unreadable_host_file_is_named_with_the_fix(host):
    (host / ".claude" / "CLAUDE.md").chmod(0)
    with pytest.raises(AishellError) as caught:
        prepare("claude", host)
    assert str(host / ".claude" / "CLAUDE.md") in caught.value.message
    assert "chmod u+r" in caught.value.hint


def test_every_copy_from_the_host_lands_inside_what_the_profile_mounts():
    for agent in REGISTRY.values():
        for relative in agent.from_host:
            assert any(relative.startswith(f"{directory}/") for directory in agent.profile), relative


def test_the_plan_mounts_the_profile_and_never_the_hosts_configuration(host, tmp_path):
    home = tmp_path / "sandbox-home"
    pairs = profiles.mounts("opencode", home, autonomous=False, project=PROJECT)
    assert pairs == [(profile("opencode") / ".config/opencode", home / ".config/opencode", False),
                     (profile("opencode") / ".local/share/opencode", home / ".local/share/opencode", False),
                     (profile("opencode") / ".local/state/opencode", home / ".local/state/opencode", False)]
    assert profiles.mounts("shell", home, autonomous=True, project=PROJECT) == []


def test_claude_is_autonomous_by_its_managed_policy_read_only_unless_the_settings_say_no(host, tmp_path):
    home = tmp_path / "sandbox-home"
    policy = "/etc/claude-code/managed-settings.json"
    autonomous = profiles.mounts("claude", home, autonomous=True, project=PROJECT)
    assert autonomous[1:] == [(profiles.policy_file("claude", policy, CLAUDE_POLICY), Path(policy), True)]
    prepare("claude", host)
    assert json.loads(autonomous[1][0].read_text())["permissions"] == {"defaultMode": "bypassPermissions"}
    assert profiles.mounts("claude", home, autonomous=False, project=PROJECT) == autonomous[:1]


def test_codex_gets_its_system_settings_always_and_its_policy_when_autonomous(host, tmp_path):
    home = tmp_path / "sandbox-home"
    fixed = {str(target): source for source, target, _ in profiles.mounts("codex", home, True, project=PROJECT)[1:]}
    assert set(fixed) == {"/etc/codex/config.toml", "/etc/codex/managed_config.toml"}
    assert [target for _, target, _ in profiles.mounts("codex", home, False, project=PROJECT)[1:]] == [
        Path("/etc/codex/config.toml")]
    prepare("codex", host)
    system = tomllib.loads(fixed["/etc/codex/config.toml"].read_text())
    # Signed in from OPENAI_API_KEY by a provider of its own; the project trusted (no trust screen).
    assert system["model_providers"][system["model_provider"]]["env_key"] == "OPENAI_API_KEY"
    assert system["projects"] == {"/src/my project": {"trust_level": "trusted"}}
    assert tomllib.loads(fixed["/etc/codex/managed_config.toml"].read_text()) == {
        "approval_policy": "never", "sandbox_mode": "danger-full-access"}
    # Another project's launch gets a file of its own: neither rewrites what the other mounts.
    other = profiles.mounts("codex", home, True, project=Path("/src/other"))[1][0]
    assert other != fixed["/etc/codex/config.toml"]


def test_the_api_key_passed_is_approved_once_by_its_last_20_characters(host):
    key = "sk-ant-api03-" + "x" * 40 + "abcdefghij0123456789"
    prepare("claude", host, environ={"ANTHROPIC_API_KEY": key})
    prepare("claude", host, environ={"ANTHROPIC_API_KEY": key})
    state = json.loads((profile() / ".claude" / ".claude.json").read_text())
    assert state["customApiKeyResponses"] == {"approved": ["abcdefghij0123456789"]}
    assert key not in json.dumps(state)


def test_a_new_placeholder_each_session_keeps_only_the_latest_approvals(host):
    from aishell_runner.agents import APPROVALS_KEPT
    from aishell_runner.credentials import placeholder

    for _ in range(APPROVALS_KEPT + 5):
        last = placeholder("sk-ant-api03-" + "k" * 60)
        prepare("claude", host, environ={"ANTHROPIC_API_KEY": last})
    state = json.loads((profile() / ".claude" / ".claude.json").read_text())
    approved = state["customApiKeyResponses"]["approved"]
    assert len(approved) == APPROVALS_KEPT and approved[-1] == last[-20:]
