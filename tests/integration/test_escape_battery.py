"""Escape probes inside real sandboxes, on Docker (as root) and rootless Podman (as the test user).

Rootful Podman runs sandboxes as Docker does (the user's IDs, our passwd files, the same hardening
options); its own part, the network, is probed in test_network_policy.py. The probes of an engine share one
project, its settings written anew for each (so a probe on the base settings is a warm launch), and a third
engine would cost `make test`'s budget for no other path.

Each probe is its own test and asserts what the sandbox must refuse. The
network-policy probes are in test_network_policy.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, new_sandbox


# docker+runsc: the same probes under gVisor (security.runtime: runsc). Rootless Podman cannot run runsc
# (test_sandbox_rootless_podman.py shows the launch's refusal).
@pytest.fixture(scope="module", params=["docker", "rootless-podman", "docker+runsc"])
def engine_project(request, tmp_path_factory):
    box = new_sandbox(request.param, tmp_path_factory.mktemp("escape"))
    yield box
    box.remove()


@pytest.fixture
def sandbox(engine_project):
    """The engine's project, with the base settings again (what a probe before changed, it changed back)."""
    engine_project.env = {}
    engine_project.configure()
    return engine_project


def memory_limit_applies(sandbox: Sandbox) -> bool:
    """Rootless Podman cannot set memory limits on a cgroup v1 host (Podman ignores them, with a warning)."""
    if not sandbox.as_user:
        return True
    version = sandbox.shell("podman info --format '{{.Host.CgroupsVersion}}'").stdout.strip()
    return version == "v2"


def test_host_files_outside_the_mounts_are_not_there(sandbox):
    marker = sandbox.root.parent / f"host-only-{uuid.uuid4().hex}"
    sandbox.shell(f"echo host > {marker}")
    try:
        run = sandbox.run(f"test -e {marker} && echo visible || echo absent; ls /root 2>&1 | head -1")
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines()[0] == "absent"
    finally:
        sandbox.shell(f"rm -f {marker}")


def test_a_read_only_mount_cannot_be_written(sandbox):
    data = sandbox.root.parent / f"data-{uuid.uuid4().hex[:8]}"
    sandbox.shell(f"mkdir -p {data} && echo original > {data}/file")
    sandbox.configure(f"mounts: ['{data}:/data:ro']\n")
    try:
        run = sandbox.run("echo changed > /data/file; touch /data/new; cat /data/file")
        assert run.returncode == 0, run.stderr  # the sandbox ran: the refusals below are its own
        assert run.stdout.strip() == "original"
        assert "Read-only file system" in run.stderr
        assert sandbox.shell(f"cat {data}/file").stdout.strip() == "original"
    finally:
        sandbox.shell(f"rm -rf {data}")


def test_no_engine_socket_is_reachable(sandbox):
    sockets = "/var/run/docker.sock /run/docker.sock /run/podman/podman.sock /run/user/*/podman/podman.sock"
    run = sandbox.run(f"for s in {sockets}; do test -S $s && echo found $s; done; "
                      "find / -xdev -type s 2>/dev/null | grep -E 'docker|podman|containerd' || true")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""


def test_no_capabilities_and_no_new_privileges(sandbox):
    # no_new_privs as prctl(PR_GET_NO_NEW_PRIVS) answers it: gVisor's /proc/self/status has no NoNewPrivs line.
    nnp = "import ctypes; print(\"NoNewPrivs:\t%d\" % ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))"  # 39: PR_GET_...
    run = sandbox.run(f"grep -E '^(CapEff|CapPrm|CapBnd)' /proc/self/status; python3 -c '{nnp}'; id -u")
    assert run.returncode == 0, run.stderr
    fields = dict(line.split(":\t") for line in run.stdout.splitlines()[:4])
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"
    # The host user's own UID (root only when aishell-run itself runs as root, as on CI: docs/security.md).
    assert run.stdout.splitlines()[4] == sandbox.shell("id -u").stdout.strip()


def test_setuid_programs_and_sudo_give_no_root(sandbox):
    run = sandbox.run("command -v sudo || echo no-sudo; su root -c 'id -u' </dev/null; echo su=$?; "
                      "cp /bin/sh /tmp/sh && chmod u+s /tmp/sh && /tmp/sh -p -c 'id -u'")
    lines = run.stdout.splitlines()
    assert "no-sudo" in lines
    assert "su=1" in lines  # su cannot read /etc/shadow without privileges it may not gain
    # The setuid copy runs as the user, not its owner (no-new-privileges, no CAP_FSETID/SETUID).
    assert [line for line in lines if line.isdigit()] in ([], [sandbox.shell("id -u").stdout.strip()])


def test_a_fork_bomb_meets_the_pids_limit_and_the_host_stays_responsive(sandbox):
    # (Rootless Podman on a cgroup v1 host: enforced by RLIMIT_NPROC instead of the pids cgroup.) Under gVisor
    # the pids cgroup also counts gVisor's own threads and, on the ptrace platform, a host process per sandbox
    # process: 64 does not start a sandbox (measured), and the limit met ends the whole sandbox rather than one
    # fork (its kernel stops: "error initializing first thread: resource temporarily unavailable").
    limit = 128 if sandbox.runtime == "runsc" else 64
    sandbox.configure(f"resources: {{pids: {limit}}}\n")
    bomb = ("import os, time\n"
            "print('started', flush=True)\n"
            "forked = 0\n"
            "try:\n"
            "    while forked < 1000:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(60)\n"
            "            os._exit(0)\n"
            "        forked += 1\n"
            "except OSError as error:\n"
            "    print('refused', error.errno)\n"
            "print('forked', forked)\n")
    started = time.monotonic()
    run = sandbox.run(f"python3 -c {shlex.quote(bomb)}")
    assert time.monotonic() - started < 120
    assert "started" in run.stdout, run.stdout + run.stderr  # the sandbox ran: what stopped the bomb is the limit
    if sandbox.runtime == "runsc":
        assert run.returncode != 0 and "forked" not in run.stdout, run.stdout + run.stderr
    else:
        assert "refused 11" in run.stdout, run.stdout + run.stderr  # EAGAIN: the pids limit said no
        assert int(run.stdout.split("forked ")[1]) < limit
    # The host answered throughout (the sandbox is gone now, with its processes).
    probe = time.monotonic()
    subprocess.run(["true"], check=True)
    assert time.monotonic() - probe < 1


def test_a_memory_hog_is_killed_inside_the_limit(sandbox):
    if not memory_limit_applies(sandbox):
        pytest.skip("rootless Podman on a cgroup v1 host cannot limit memory (docs/security.md)")
    sandbox.configure("resources: {memory: 128m}\n")
    run = sandbox.run("python3 -c 'b = b\"x\" * (1024 ** 3); print(\"survived\")'")
    assert "survived" not in run.stdout
    assert run.returncode == 137  # killed by the kernel's OOM killer, inside the sandbox's limit


def test_git_hooks_and_config_cannot_be_planted_but_git_work_goes_on(sandbox):
    root = sandbox.root
    identity = "-c user.name=T -c user.email=t@example.org"
    sandbox.shell(f"git init -q {root} && git -C {root} {identity} commit -q --allow-empty -m init")
    config_before = sandbox.shell(f"cat {root}/.git/config").stdout
    inside = ("echo 'touch /tmp/pwned' > .git/hooks/post-checkout && echo hook-planted; "
              "git config core.fsmonitor 'touch /tmp/pwned' && echo config-set; "
              "printf '[core]\\n\\thooksPath = .\\n' >> .git/config && echo config-appended; "
              "git config include.path ../planted.gitconfig && echo include-set; "
              "echo 'touch /tmp/pwned' > .envrc; "
              f"echo work > work.txt && git add work.txt && git {identity} commit -q -m work && git branch agent "
              "&& git log --oneline | wc -l")
    run = sandbox.run(inside)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2"], run.stdout  # no write got through; the ordinary work did
    # .envrc is the user's project, so the edit stays; the session's end names it.
    assert f"added: {root}/.envrc" in run.stderr, run.stderr
    # On the host afterwards: nothing planted, the configuration as it was, the work there.
    assert sandbox.shell(f"ls -A {root}/.git/hooks").stdout.split().count("post-checkout") == 0
    assert sandbox.shell(f"cat {root}/.git/config").stdout == config_before
    assert sandbox.shell(f"git -C {root} log --format=%s agent").stdout.split() == ["work", "init"]


# What each agent's configuration on the host holds before the sessions (home-relative path: content).
HOST_AGENT_CONFIG = {
    ".claude/CLAUDE.md": "host instructions\n",
    ".claude/settings.json": '{"model": "host-model", "env": {"ANTHROPIC_API_KEY": "sk-ant-host-only"}}\n',
    ".claude/.credentials.json": '{"claudeAiOauth": {"accessToken": "sk-ant-oat-host-only"}}\n',
    ".claude.json": '{"mcpServers": {}}\n',
    ".codex/config.toml": 'model = "host-model"\n',
    ".codex/auth.json": '{"OPENAI_API_KEY": "sk-host-only"}\n',
    ".gemini/settings.json": '{"model": {"name": "host-model"}}\n',
    ".config/opencode/opencode.json": '{"model": "host-model"}\n',
    ".bashrc": "# the host's own\n",
}
# From inside: read what the host's configuration gave, then plant a hook, an MCP server and a command in
# each agent's configuration, and leave a link in the profile aimed at a host file.
PLANT = {
    "claude": "cat ~/.claude/CLAUDE.md ~/.claude/settings.json; ls -A ~/.claude; "
              """printf '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "touch"}]}]}}' """
              "> ~/.claude/settings.json && "
              """printf '{"mcpServers": {"planted": {"command": "touch"}}}' > ~/.claude/.claude.json && """
              "mkdir -p ~/.claude/commands && echo 'run: touch /tmp/pwned' > ~/.claude/commands/planted.md && "
              "echo remembered > ~/.claude/memory-of-session-one && "
              "rm ~/.claude/CLAUDE.md && ln -s {host_home}/.bashrc ~/.claude/CLAUDE.md && echo planted",
    "codex": "cat ~/.codex/config.toml; ls -A ~/.codex; "
             """printf '[mcp_servers.planted]\\ncommand = "touch"\\n' >> ~/.codex/config.toml && """
             "mkdir -p ~/.codex/prompts && echo planted > ~/.codex/prompts/planted.md && echo planted",
    "gemini": "cat ~/.gemini/settings.json; "
              """printf '{"mcpServers": {"planted": {"command": "touch"}}}' > ~/.gemini/settings.json && """
              "mkdir -p ~/.gemini/commands && echo 'prompt = \"planted\"' > ~/.gemini/commands/planted.toml && "
              "echo planted",
    "opencode": "cat ~/.config/opencode/opencode.json; "
                """printf '{"mcp": {"planted": {"type": "local", "command": ["touch"]}}}' """
                "> ~/.config/opencode/opencode.json && mkdir -p ~/.config/opencode/command && "
                "echo planted > ~/.config/opencode/command/planted.md && echo planted",
}


@pytest.fixture
def host_home(sandbox, tmp_path):
    """The home whose agent configuration the sandboxes must leave alone. Rootless Podman keeps its storage
    under the user's home, so there it is the test user's own; root's runs get one of their own."""
    if sandbox.as_user:
        home = sandbox.shell("echo $HOME").stdout.strip()
    else:
        home = str(tmp_path / "home")
        # The state directory stays root's own: under another one, the user's one egress proxy (whose
        # configuration names it) would be made anew for this test, and again for the next (half a minute each).
        sandbox.env = {"HOME": home, "XDG_STATE_HOME": os.environ.get("XDG_STATE_HOME")
                       or str(Path.home() / ".local" / "state")}
    paths = " ".join(f"{home}/{top}" for top in (".claude", ".claude.json", ".codex", ".gemini", ".config/opencode",
                                                  ".local/share/opencode", ".local/share/aishell", ".bashrc"))
    sandbox.shell(f"rm -rf {paths}")
    for relative, content in HOST_AGENT_CONFIG.items():
        sandbox.shell(f"mkdir -p $(dirname {home}/{relative}) && printf %s {shlex.quote(content)} > {home}/{relative}")
    yield home
    sandbox.shell(f"rm -rf {paths}")


def test_an_agents_host_configuration_cannot_be_changed_from_inside_and_its_profile_lasts(sandbox, host_home):
    def host_state() -> str:
        return sandbox.shell(f"cd {host_home} && find .claude .claude.json .codex .gemini .config/opencode .bashrc "
                             "-type f -exec sha256sum {} + | sort").stdout

    before = host_state()
    for agent, plant in PLANT.items():
        sandbox.configure(f"harness: {agent}\n")
        run = sandbox.run(plant.replace("{host_home}", host_home))
        assert run.returncode == 0 and run.stdout.rstrip().endswith("planted"), (agent, run.stdout, run.stderr)
        # The host's instructions and preferences reached the agent; its credentials did not.
        assert "host-model" in run.stdout and "host-only" not in run.stdout, (agent, run.stdout)
        assert ".credentials.json" not in run.stdout and "auth.json" not in run.stdout, (agent, run.stdout)
    sandbox.configure("harness: claude\n")
    run = sandbox.run("cat ~/.claude/memory-of-session-one ~/.claude/CLAUDE.md; ls ~/.claude/commands | wc -l")
    assert run.returncode == 0, run.stderr
    # The profile kept what the agent wrote; what the host gives came again from the host, the link gone.
    assert run.stdout.split("\n")[:2] == ["remembered", "host instructions"] and run.stdout.split()[-1] == "0"
    # On the host: not one byte of any agent's configuration changed, nothing planted is in effect.
    assert host_state() == before
    assert sandbox.shell(f"grep -rl planted {host_home}/.claude {host_home}/.claude.json {host_home}/.codex "
                         f"{host_home}/.gemini {host_home}/.config/opencode", check=False).stdout == ""
