"""The agent registry: every fact about an agent that a launch needs, in one place.

A sandbox never sees the host's agent configuration itself. It gets the agent's *profile*
(profiles.py): the paths the agent writes (`writes`), kept on the host in a directory that only
sandboxes use, into which the host's own instructions and preferences (`from_host`) are copied
afresh at each launch. Credentials are neither in `from_host` nor copied: the host keeps them.
Paths are relative to the home directory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Agent:
    name: str
    title: str
    command: tuple[str, ...]
    # What the agent writes (history, memory, session state, its own state file), in the profile.
    writes_dirs: tuple[str, ...] = ()
    writes_files: tuple[str, ...] = ()  # JSON state files, made as `{}` when new
    # What it legitimately reads from the host's configuration, copied into the profile at each launch.
    from_host: tuple[str, ...] = ()
    # Keys of a copied JSON settings file that hold or fetch a credential: dropped from the copy, together
    # with the `credentials` among its "env" entries.
    secret_settings: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()  # environment variables holding its API keys or tokens
    hosts: tuple[str, ...] = ()  # its API and sign-in hosts (from each vendor's network documentation)

    @property
    def writes(self) -> tuple[str, ...]:
        return self.writes_dirs + self.writes_files


REGISTRY = {agent.name: agent for agent in (
    Agent("claude", "Claude Code", ("claude",),
          writes_dirs=(".claude",), writes_files=(".claude.json",),
          from_host=(".claude/CLAUDE.md", ".claude/settings.json", ".claude/commands", ".claude/agents",
                     ".claude/skills", ".claude/output-styles"),
          secret_settings=("apiKeyHelper", "awsAuthRefresh", "awsCredentialExport", "otelHeadersHelper"),
          credentials=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
          hosts=("api.anthropic.com", "console.anthropic.com", "statsig.anthropic.com", "claude.ai",
                 "platform.claude.com")),
    Agent("codex", "Codex CLI", ("codex",),
          writes_dirs=(".codex",),
          from_host=(".codex/config.toml", ".codex/AGENTS.md", ".codex/prompts"),
          credentials=("OPENAI_API_KEY",),
          hosts=("api.openai.com", "auth.openai.com", "chatgpt.com")),
    Agent("gemini", "Gemini CLI", ("gemini",),
          writes_dirs=(".gemini",),
          from_host=(".gemini/settings.json", ".gemini/GEMINI.md", ".gemini/commands"),
          credentials=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
          hosts=("generativelanguage.googleapis.com", "cloudcode-pa.googleapis.com", "oauth2.googleapis.com",
                 "accounts.google.com", "www.googleapis.com")),
    Agent("opencode", "OpenCode", ("opencode",),
          writes_dirs=(".config/opencode", ".local/share/opencode"),
          from_host=(".config/opencode/opencode.json", ".config/opencode/opencode.jsonc",
                     ".config/opencode/AGENTS.md", ".config/opencode/agent", ".config/opencode/command",
                     ".config/opencode/mode"),
          credentials=("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"),
          hosts=("opencode.ai", "models.dev", "api.anthropic.com", "api.openai.com", "openrouter.ai")),
    Agent("shell", "a shell", ("bash", "-l")),
)}
AGENTS = tuple(name for name in REGISTRY if name != "shell")  # what settings' `agents:` and images know
HARNESSES = tuple(REGISTRY)  # what a sandbox can run
