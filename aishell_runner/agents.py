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
from types import MappingProxyType
from typing import Any, NamedTuple

State = dict[str, Any]
EMPTY: Mapping[str, str] = MappingProxyType({})  # the default of a mapping field: shared, so unchangeable


class Agent(NamedTuple):
    """One agent CLI: its command, profile, what it copies from the host, its credentials and hosts."""

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
    env: Mapping[str, str] = EMPTY
    # Its no-approval mode (settings: agents.<name>.autonomous, on by default): variables, and policy files
    # mounted read-only at their absolute paths, which no setting of the user's or the project's overrides.
    autonomy_env: Mapping[str, str] = EMPTY
    autonomy_files: Mapping[str, str] = EMPTY
    # Its system-wide settings, mounted read-only at their absolute paths in every sandbox of it, autonomous or
    # not: the layer below the user's own, so a copied setting of the user's wins. What signs it in from the
    # environment, answers its first-run questions and keeps it quiet; nothing secret. "{project}" in a file
    # (of these or the policy's) is the project's path as a quoted string (JSON's, which TOML reads too).
    system_files: Mapping[str, str] = EMPTY
    # The agent's own state file in its profile, and what makes it skip the first-run screens that a
    # sandbox has no use for (onboarding, sign-in choice): given the state and the host's environment.
    state_file: str = ""
    first_run: Callable[[State, Mapping[str, str]], State] | None = None
    # Where it keeps a login made inside a sandbox, in its profile: with one it needs no key variable. Empty
    # where no variable is needed either (OpenCode also runs local models).
    login_file: str = ""
    login_hint: str = ""  # another way to sign in from the host, for the message when nothing signs it in


APPROVALS_KEPT = 16


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
        # Behind the broker the key is a new placeholder each session: the profile keeps the latest few.
        state["customApiKeyResponses"] = {**responses, "approved": approved[-APPROVALS_KEPT:]}
    return state


# Codex reads /etc/codex/config.toml below the user's config.toml and /etc/codex/managed_config.toml above
# every layer (also for `codex exec`). OPENAI_API_KEY alone does not sign it in (its built-in provider sends
# no key and wants `codex login`); a provider of its own with env_key does. Its trust question is answered
# for the project's exact path (a parent's entry does not count). Its own sandbox (bubblewrap) does not work
# in every container (in a Docker sandbox run by root its sandboxed writes fail), and the container is the
# boundary anyway: autonomy is full access.
CODEX_SYSTEM_CONFIG = """\
# aishell-run: Codex's defaults in a sandbox; ~/.codex/config.toml (copied from the host) is above them.
model_provider = "openai-api-key"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.openai-api-key]
name = "OpenAI (OPENAI_API_KEY)"
base_url = "https://api.openai.com/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"

[projects.{project}]
trust_level = "trusted"
"""
CODEX_POLICY = """\
# aishell-run: the sandbox is the boundary; Codex neither asks nor sandboxes its commands itself.
approval_policy = "never"
sandbox_mode = "danger-full-access"
"""
# Gemini CLI skips system settings (and system defaults) unless the file and every directory above it belong
# to root and only root may write them, which a bind mount of the user's file never is: they are in the image
# (roles/sandbox_image/templates/Dockerfile.foundation.j2), with the first-run defaults (sign-in with
# GEMINI_API_KEY, no update check or usage statistics) in /etc/gemini-cli/system-defaults.json, read always,
# below the user's settings. Its no-approval mode cannot be set in settings (defaultApprovalMode refuses yolo):
# an admin-tier policy allowing every tool does it, above every user and project policy; system settings
# naming it in adminPolicyPaths are read when GEMINI_CLI_SYSTEM_SETTINGS_PATH points at them, and system
# settings sit above the user's and the project's. (Not /etc/gemini-cli/policies/: read always, it could not
# be turned off.)
GEMINI_AUTONOMOUS_SETTINGS = "/etc/gemini-cli/aishell-autonomous.json"
GEMINI_IMAGE_FILES = ("/etc/gemini-cli/system-defaults.json", GEMINI_AUTONOMOUS_SETTINGS,
                      "/etc/gemini-cli/aishell-autonomous.toml")
# OpenCode's managed layer, above the user's and the project's opencode.json. Its own defaults already let it
# edit the project's files; "allow" for every permission also lets it write outside the project and run any
# command, which `opencode run` otherwise rejects (it has nobody to ask).
OPENCODE_POLICY = '{"permission": "allow"}\n'
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
          state_file=".claude/.claude.json", first_run=_claude_first_run, login_file=".claude/.credentials.json",
          login_hint="or run `claude setup-token` and export CLAUDE_CODE_OAUTH_TOKEN"),
    Agent("codex", "Codex CLI", ("codex",),
          host_config=(".codex",), profile=(".codex",),
          from_host=(".codex/config.toml", ".codex/AGENTS.md", ".codex/prompts"),
          credentials=("OPENAI_API_KEY",), login_file=".codex/auth.json",
          hosts=("api.openai.com", "auth.openai.com", "chatgpt.com"),
          system_files={"/etc/codex/config.toml": CODEX_SYSTEM_CONFIG},
          autonomy_files={"/etc/codex/managed_config.toml": CODEX_POLICY}),
    Agent("gemini", "Gemini CLI", ("gemini",),
          host_config=(".gemini",), profile=(".gemini",),
          from_host=(".gemini/settings.json", ".gemini/GEMINI.md", ".gemini/commands"),
          credentials=("GEMINI_API_KEY", "GOOGLE_API_KEY"), login_file=".gemini/oauth_creds.json",
          hosts=("generativelanguage.googleapis.com", "cloudcode-pa.googleapis.com", "oauth2.googleapis.com",
                 "accounts.google.com", "www.googleapis.com"),
          # The project was chosen by the user: its trust-this-folder question is answered. Its first-run
          # defaults are in the image (GEMINI_IMAGE_FILES).
          env={"GEMINI_CLI_TRUST_WORKSPACE": "true"},
          autonomy_env={"GEMINI_CLI_SYSTEM_SETTINGS_PATH": GEMINI_AUTONOMOUS_SETTINGS}),
    Agent("opencode", "OpenCode", ("opencode",),
          host_config=(".config/opencode", ".local/share/opencode"),
          # Its state directory too: the parents of the profile's mounts are root's in the sandbox, so it could
          # not make one there itself.
          profile=(".config/opencode", ".local/share/opencode", ".local/state/opencode"),
          from_host=(".config/opencode/opencode.json", ".config/opencode/opencode.jsonc",
                     ".config/opencode/AGENTS.md", ".config/opencode/agent", ".config/opencode/command",
                     ".config/opencode/mode"),
          credentials=("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"),
          hosts=("opencode.ai", "models.dev", "api.anthropic.com", "api.openai.com", "openrouter.ai"),
          # No auto-update (the image pins the version) and no models list fetched: the one built into the
          # pinned version serves. It has no first-run screens; a provider's key variable signs it in.
          env={"OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1"},
          autonomy_files={"/etc/opencode/opencode.json": OPENCODE_POLICY}),
    Agent("shell", "a shell", ("bash", "-l")),
)}
AGENTS = tuple(name for name in REGISTRY if name != "shell")  # what settings' `agents:` and images know
HARNESSES = tuple(REGISTRY)  # what a sandbox can run


def sandbox_env(agent: Agent, home: str, autonomous: bool) -> dict[str, str]:
    """The variables a sandbox of `agent` gets from the registry."""
    env = {**agent.env, **(agent.autonomy_env if autonomous else {})}
    return {name: value.replace("{home}", home) for name, value in env.items()}
