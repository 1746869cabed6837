"""The agent registry: every fact about an agent that a launch needs, in one place.

A sandbox never sees the host's agent configuration itself. It gets the agent's *profile*
(profiles.py): the directories the agent writes (`profile`), kept on the host in a directory that
only sandboxes use, into which the host's own instructions and preferences (`from_host`) are copied
afresh at each launch. Credentials are neither in `from_host` nor copied: the host keeps them.
Paths are relative to the home directory unless they are absolute; "{home}" in a value is the
sandbox's home. How each agent is installed (its npm package and pinned version) belongs to the image
role, which must work on its own in a team's playbook (roles/sandbox_image: vars/main.yml, defaults); a
test keeps the role's agents and these the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

State = dict[str, Any]


@dataclass(frozen=True)
class Agent:
    name: str
    title: str
    command: tuple[str, ...]
    # The agent's configuration on the host: never mounted writable (settings refuse it, too).
    host_config: tuple[str, ...] = ()
    # What the agent writes (history, memory, session state), as directories of its profile.
    profile: tuple[str, ...] = ()
    # What it legitimately reads from the host's configuration, copied into the profile at each launch.
    from_host: tuple[str, ...] = ()
    # Keys of a copied JSON settings file that hold or fetch a credential: dropped from the copy, together
    # with the `credentials` among its "env" entries.
    secret_settings: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()  # environment variables holding its API keys or tokens
    hosts: tuple[str, ...] = ()  # its API and sign-in hosts (from each vendor's network documentation)
    # Set in each of its sandboxes (nothing secret): where it keeps its state, what it must not do there.
    env: Mapping[str, str] = field(default_factory=dict)
    # Its no-approval mode (settings: agents.<name>.autonomous, on by default): variables, and policy files
    # mounted read-only at their absolute paths, which no setting of the user's or the project's overrides.
    autonomy_env: Mapping[str, str] = field(default_factory=dict)
    autonomy_files: Mapping[str, str] = field(default_factory=dict)
    # The agent's own state file in its profile, and what makes it skip the first-run screens that a
    # sandbox has no use for (onboarding, sign-in choice): given the state and the host's environment.
    state_file: str = ""
    first_run: Callable[[State, Mapping[str, str]], State] | None = None


def _claude_first_run(state: State, environ: Mapping[str, str]) -> State:
    """Onboarding (theme, sign-in) done; the API key passed in approved, as the host's Claude Code records
    an approval (by the key's last 20 characters)."""
    state["hasCompletedOnboarding"] = True
    key = environ.get("ANTHROPIC_API_KEY")
    if key:
        responses = state.get("customApiKeyResponses")
        responses = responses if isinstance(responses, dict) else {}
        approved = [k for k in responses.get("approved", []) if isinstance(k, str)]
        if key[-20:] not in approved:
            approved.append(key[-20:])
        state["customApiKeyResponses"] = {**responses, "approved": approved}
    return state


CLAUDE_POLICY = '{"permissions": {"defaultMode": "bypassPermissions"}, "skipDangerousModePermissionPrompt": true}\n'

REGISTRY = {agent.name: agent for agent in (
    Agent("claude", "Claude Code", ("claude",),
          host_config=(".claude", ".claude.json"),
          # With CLAUDE_CONFIG_DIR set, its state file lives in the profile directory too (no file mount).
          profile=(".claude",),
          from_host=(".claude/CLAUDE.md", ".claude/settings.json", ".claude/commands", ".claude/agents",
                     ".claude/skills", ".claude/output-styles"),
          secret_settings=("apiKeyHelper", "awsAuthRefresh", "awsCredentialExport", "otelHeadersHelper"),
          credentials=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
          hosts=("api.anthropic.com", "console.anthropic.com", "statsig.anthropic.com", "claude.ai",
                 "platform.claude.com"),
          # No auto-update (the image pins the version), telemetry or error reports from a sandbox; the
          # project was chosen by the user, so its trust-this-folder question is answered.
          env={"CLAUDE_CONFIG_DIR": "{home}/.claude", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
               "CLAUDE_CODE_SANDBOXED": "1"},
          # IS_SANDBOX lets it skip permissions when the sandbox runs as root (aishell-run started by root).
          autonomy_env={"IS_SANDBOX": "1"},
          autonomy_files={"/etc/claude-code/managed-settings.json": CLAUDE_POLICY},
          state_file=".claude/.claude.json", first_run=_claude_first_run),
    Agent("codex", "Codex CLI", ("codex",),
          host_config=(".codex",), profile=(".codex",),
          from_host=(".codex/config.toml", ".codex/AGENTS.md", ".codex/prompts"),
          credentials=("OPENAI_API_KEY",),
          hosts=("api.openai.com", "auth.openai.com", "chatgpt.com")),
    Agent("gemini", "Gemini CLI", ("gemini",),
          host_config=(".gemini",), profile=(".gemini",),
          from_host=(".gemini/settings.json", ".gemini/GEMINI.md", ".gemini/commands"),
          credentials=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
          hosts=("generativelanguage.googleapis.com", "cloudcode-pa.googleapis.com", "oauth2.googleapis.com",
                 "accounts.google.com", "www.googleapis.com")),
    Agent("opencode", "OpenCode", ("opencode",),
          host_config=(".config/opencode", ".local/share/opencode"),
          profile=(".config/opencode", ".local/share/opencode"),
          from_host=(".config/opencode/opencode.json", ".config/opencode/opencode.jsonc",
                     ".config/opencode/AGENTS.md", ".config/opencode/agent", ".config/opencode/command",
                     ".config/opencode/mode"),
          credentials=("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"),
          hosts=("opencode.ai", "models.dev", "api.anthropic.com", "api.openai.com", "openrouter.ai")),
    Agent("shell", "a shell", ("bash", "-l")),
)}
AGENTS = tuple(name for name in REGISTRY if name != "shell")  # what settings' `agents:` and images know
HARNESSES = tuple(REGISTRY)  # what a sandbox can run


def sandbox_env(agent: Agent, home: str, autonomous: bool) -> dict[str, str]:
    """The variables a sandbox of `agent` gets from the registry."""
    env = {**agent.env, **(agent.autonomy_env if autonomous else {})}
    return {name: value.replace("{home}", home) for name, value in env.items()}
