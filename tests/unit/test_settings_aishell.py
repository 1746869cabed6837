"""aishell's settings forms (settings/aishell_forms.py): its documented examples load with aishell's meaning, what
has no safe equivalent here is refused with the file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aishell_runner import settings
from aishell_runner.settings import EnvVar, Mount, ScanRule, SettingsError, load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aishell"


def example(name: str, layers, **replace: str) -> str:
    text = (FIXTURES / f"{name}.yaml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def assert_points_at(error: SettingsError, file: Path, line: int, key: str, *words: str) -> None:
    assert error.exit_code == 2
    assert (error.file, error.line, error.key) == (file, line, key), error.message
    assert f"{file}:{line}: {key}: " in error.message
    assert error.hint
    for word in words:
        assert word in error.message + " " + error.hint, (word, error.message, error.hint)


def load_refusing(layers, text: str, refused: list[str]):
    """Load `text` as the project's settings. Each refusal must be at a line holding one of `refused` (each
    once); that line, and the block under it, is removed and the rest loaded again, until it loads."""
    expected = list(refused)
    while True:
        layers.write(project=text)
        try:
            result = layers.load()
        except SettingsError as error:
            assert error.file == layers.project_file and error.exit_code == 2 and error.hint
            lines = text.split("\n")
            written = lines[error.line - 1]
            match = next((word for word in expected if word in written), None)
            assert match, f"unexpected refusal: {error.message} (line {written!r})"
            expected.remove(match)
            text = "\n".join(_without_block(lines, error.line - 1))
            continue
        assert not expected, f"not refused: {expected}"
        return result


def _without_block(lines: list[str], index: int) -> list[str]:
    indent = len(lines[index]) - len(lines[index].lstrip())
    end = index + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    return lines[:index] + lines[end:]


@pytest.fixture
def home(layers):
    for name in (".gitconfig", "data", ".aws", ".secrets", "projects/shared", ".docker"):
        path = layers.home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.mkdir() if "." not in name or name in (".aws", ".secrets", ".docker") else path.write_text(""))
    (layers.root / "host" / "path").mkdir(parents=True)
    return layers.home


# ------------------------------------------------------------------------------------------ documented examples


def test_the_full_annotated_example(layers, home):
    text = example("full-annotated-example", layers, **{"/host/path:": f"{layers.root}/host/path:"})
    result = load_refusing(layers, text, ['"9090:9090/udp"', "--hostname=aishell", "--add-host", "  pi:",
                                          "  vscode:"])
    assert result.mounts == (
        Mount(home / ".gitconfig", home / ".gitconfig", False),
        Mount(layers.root / "host" / "path", Path("/container/path"), False),
        Mount(home / "data", Path("/data"), False),
        Mount(home / ".aws", Path("/home/user/.aws"), True),
    )
    assert result.env == (EnvVar("MY_VAR", "hello"), EnvVar("DEBUG", "true"), EnvVar("EDITOR", None),
                          EnvVar("DATABASE_URL", "postgres://localhost/mydb"))
    assert result.ports == ("8080:8080", "3000:3000", "127.0.0.1:5432:5432")
    assert result.resources == settings.Resources(cpus=2.0, memory="4g", pids=None)
    assert result.pre_start == ("redis-server --daemonize yes",)
    assert result.agents["claude"].args == ("--plugin", "context7", "--model", "sonnet")
    assert result.agents["opencode"].args == ("--provider", "anthropic")
    assert result.agents["codex"].args == ("--verbose",)
    assert result.agents["gemini"].args == ("--model", "gemini-2.0-flash-exp")
    assert result.scan.rules == (
        ScanRule("aishell-secret", "high", ("*.secret",), "Project secret file"),
        ScanRule("aishell-config-credentials", "medium", ("config/credentials.*",), "Credential config files"),
    )
    assert result.scan.allow == (".env.ci", "test/fixtures/*.key", "docs/example.pem")
    for key in settings_aishell_only():
        assert key not in result.raw


def settings_aishell_only() -> tuple[str, ...]:
    from aishell_runner.settings.aishell_forms import AISHELL_KEYS
    return AISHELL_KEYS


def test_the_docker_resource_limits_example(layers):
    result = load_refusing(layers, example("custom-docker-resource-limits", layers), ["--memory-swap"])
    assert result.resources == settings.Resources(cpus=2.0, memory="4g", pids=100)


def test_the_sensitive_file_patterns_example(layers):
    result = layers.load(project=example("project-sensitive-file-patterns", layers))
    assert [rule.patterns for rule in result.scan.rules] == [("secrets/*.yaml",), ("internal/api-keys.json",)]
    assert {rule.severity for rule in result.scan.rules} == {"high"}
    assert result.scan.allow == ("secrets/example.yaml",)


def test_the_isolated_project_example_leaves_the_user_settings_out(layers, home):
    result = layers.load(system="env: [SITE=1]\n", user="env: [MINE=1]\nharness: codex\n",
                         project=example("isolated-project-config", layers, **{"~/my-project-data": "~/data"}))
    assert result.env == (EnvVar("SITE", "1"), EnvVar("PROJECT_ENV", "production"))
    assert result.harness == "claude"
    assert result.sources == (layers.system, layers.project_file)
    assert result.mounts == (Mount(home / "data", Path("/data"), False),)


def test_the_multi_service_example(layers, home):
    result = load_refusing(layers, example("multi-service-development", layers), ["  pi:"])
    assert result.resources == settings.Resources(cpus=4.0, memory="8g", pids=None)
    assert result.pre_start == ("redis-server --daemonize yes", "postgres -D /data/postgres &")
    assert result.agents["claude"].args == ("--model", "sonnet", "--plugin", "context7")
    assert result.env == (EnvVar("DATABASE_URL", "postgres://localhost/dev"), EnvVar("REDIS_URL", "redis://localhost:6379"))
    assert [mount.readonly for mount in result.mounts] == [False, True]


def test_the_readme_example(layers, home):
    (layers.root / "data").mkdir()
    result = layers.load(project=example("readme-runtime-configuration", layers,
                                         **{"/path/to/data": str(layers.root / "data")}))
    assert result.mounts == (Mount(layers.root / "data", layers.root / "data", False),
                             Mount(home / ".secrets", Path("/secrets"), False))
    # aishell passes "passthrough" as the text it is (its code passes the host's value only for an empty one).
    assert result.env == (EnvVar("DATABASE_URL", "passthrough"), EnvVar("MY_VAR", "literal_value"))
    assert result.resources == settings.Resources(cpus=2.0, memory="4g", pids=None)
    assert result.pre_start == ("redis-server --daemonize yes",)


def test_the_harness_guide_example_is_refused_with_the_key_aishell_reads(layers):
    error = layers.error(project=example("harnesses-guide-default-args", layers))
    assert_points_at(error, layers.project_file, 1, "harnesses", "harness_args")


# --------------------------------------------------------------------------------------------------- forms and merging


def test_env_map_and_list_layers_add_up(layers):
    result = layers.load(user="env:\n  A: '1'\n  B:\n", project="env: [A=2, C]\n")
    assert result.env == (EnvVar("A", "1"), EnvVar("B", None), EnvVar("A", "2"), EnvVar("C", None))


def test_harness_args_concatenate_with_native_args_per_layer(layers):
    result = layers.load(user="harness_args: {claude: --verbose}\n",
                         project="agents: {claude: {args: [--a]}}\nharness_args: {claude: [--model, sonnet]}\n")
    assert result.agents["claude"].args == ("--verbose", "--a", "--model", "sonnet")


def test_docker_args_forms(layers, home):
    result = layers.load(project="""\
        docker_args: "--cpus 1.5 -m 512m --pids-limit=64 -e A=1 --env B -v ~/data:/data:ro -p 8080:80 --read-only
          --network=none --security-opt no-new-privileges --cap-drop=ALL --runtime=runsc"
        """)
    assert result.resources == settings.Resources(cpus=1.5, memory="512m", pids=64)
    assert result.env == (EnvVar("A", "1"), EnvVar("B", None))
    assert result.mounts == (Mount(home / "data", Path("/data"), True),)
    assert result.ports == ("8080:80",)
    assert result.security.read_only_root is True and result.network.mode == "none"
    assert result.security.runtime == "runsc"


@pytest.mark.parametrize(("flag", "words"), [
    ("--privileged", ["--privileged", "weaken", "security.add_capabilities"]),
    ("--cap-add=SYS_ADMIN", ["--cap-add=SYS_ADMIN", "weaken", "security.add_capabilities"]),
    ("--cap-add ALL", ["--cap-add=ALL", "security.add_capabilities"]),
    ("--network=host", ["--network=host", "weaken", "network.mode"]),
    ("--net host", ["--net=host", "weaken"]),
    ("--pid=host", ["--pid=host", "weaken"]),
    ("--ipc=host", ["--ipc=host", "weaken"]),
    ("--security-opt apparmor=unconfined", ["apparmor=unconfined", "confinement"]),
    ("--security-opt seccomp=unconfined", ["seccomp=unconfined", "security.seccomp"]),
    ("--device=/dev/kvm", ["--device", "weaken"]),
    ("--hostname=box", ["--hostname=box", "no equivalent"]),
    ("--add-host=db:10.0.0.5", ["--add-host", "network.internal_hosts"]),
    ("--dns=8.8.8.8", ["--dns=8.8.8.8", "no equivalent"]),
    ("--tmpfs=/tmp:rw", ["--tmpfs", "no equivalent"]),
    ("--cpus=lots", ["'lots' is not a number"]),
    ("--runtime=kata", ["--runtime=kata", "no equivalent", "security.runtime"]),
])
def test_docker_args_without_a_safe_equivalent_are_refused_by_name(layers, flag, words):
    listed = " " not in flag  # a list item is one argument; text splits on white space, as in aishell
    text = f"docker_args:\n  - '--memory=1g'\n  - '{flag}'\n" if listed else f"docker_args: '--memory=1g {flag}'\n"
    error = layers.error(project="engine: docker\n" + text)
    assert_points_at(error, layers.project_file, 4 if listed else 2, "docker_args[1]" if listed else "docker_args",
                     *words)


def test_the_engine_socket_through_docker_args_meets_the_mount_checks(layers):
    socket = layers.root / "run" / "podman" / "podman.sock"
    socket.parent.mkdir(parents=True)
    socket.write_text("")
    error = layers.error(project=f"docker_args: ['--volume={socket}:/run/podman.sock']\n",
                         environ={"HOME": str(layers.home), "XDG_RUNTIME_DIR": str(layers.root / "run")})
    assert_points_at(error, layers.project_file, 1, "docker_args[0]", "engine socket")


def test_aishell_user_file_is_read_when_the_xdg_one_is_absent(layers):
    (layers.home / ".aishell").mkdir()
    (layers.home / ".aishell" / "config.yaml").write_text("harness_args: {codex: --verbose}\n")
    environ = {"HOME": str(layers.home)}
    assert settings.default_user_file(environ) == layers.home / ".aishell" / "config.yaml"
    result = load_settings(layers.project, system_file=layers.system, environ=environ)
    assert result.agents["codex"].args == ("--verbose",)
    layers.user.write_text("harness: gemini\n")  # the XDG file, once it exists, is the user layer
    assert settings.default_user_file(environ) == layers.user


def test_accepted_keys_with_no_effect_here(layers):
    result = layers.load(user="update_check: {enabled: false, interval_days: 7}\n",
                         project="claude_isolation: project\ngitleaks_freshness_check: false\n"
                                 "gitleaks_freshness_threshold: 14\nextends: global\n")
    assert result.raw == {}


# --------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("where", "text", "line", "key", "words"), [
    ("project", "env:\n  A: '1'\n  DEBUG: true\n", 3, "env.DEBUG", ["not text", 'DEBUG: "true"']),
    ("project", "env:\n  PORT: 8080\n", 2, "env.PORT", ["not text", 'PORT: "8080"']),
    ("project", "env:\n  1BAD: x\n", 2, 'env["1BAD"]', ["not a valid environment variable name"]),
    ("user", "extends: none\n", 1, "extends", ["only for a project", "remove it"]),
    ("system", "extends: global\n", 1, "extends", ["only for a project"]),
    ("project", "extends: parent\n", 1, "extends", ["global, none"]),
    ("project", "harness_args:\n  pi: --print\n", 2, "harness_args.pi", ["pi", "claude, codex, gemini, opencode"]),
    ("project", "harness_args: [--verbose]\n", 1, "harness_args", ["mapping"]),
    ("project", "harness_args:\n  claude: [--a, 3]\n", 2, "harness_args.claude[1]", ["expected text"]),
    ("project", "detection:\n  enabled: false\n", 2, "detection.enabled", ["cannot be turned off", "allowlist"]),
    ("project", "detection:\n  custom_patterns:\n    '*.x': critical\n", 3, "detection.custom_patterns[\"*.x\"]",
     ["critical", "high, medium, low"]),
    ("project", "detection:\n  custom_patterns:\n    '../x': high\n", 3, "detection.custom_patterns[\"../x\"]",
     ["leaves the project"]),
    ("project", "detection:\n  allowlist:\n    - reason: why\n", 3, "detection.allowlist[0]", ["path"]),
    ("project", "detection:\n  colour: red\n", 2, "detection.colour", ["unknown key", "custom_patterns"]),
    ("project", "claude_isolation: per-project\n", 1, "claude_isolation", ["shared", "project"]),
    ("project", "pi_packages: [npm:x]\n", 1, "pi_packages", ["no equivalent"]),
    ("project", "claude_shared_paths: [todos]\n", 1, "claude_shared_paths", ["no equivalent"]),
    ("project", "docker_args: [--cpus]\n", 1, "docker_args[0]", ["needs a value"]),
    ("project", "resources: {cpus: 1}\ndocker_args: [--cpus=2]\n", 2, "docker_args[0]", ["twice"]),
    ("project", "docker_args: ['--memory=2GB']\n", 1, "docker_args[0]", ["not a memory size"]),
    ("project", "docker_args: '--memory 2 GB'\n", 1, "docker_args", ["GB has no equivalent"]),
    ("project", "pre_start: ''\n", 1, "pre_start", ["must not be empty"]),
    ("project", "ports:\n  - '8080:80'\n  - '9090:9090/udp'\n", 3, "ports[1]", ["protocol suffix", '"9090:9090"']),
])
def test_malformed_aishell_settings_name_file_line_key_and_fix(layers, where, text, line, key, words):
    error = layers.error(**{where: text})
    assert_points_at(error, getattr(layers, "project_file" if where == "project" else where), line, key, *words)


def test_two_layers_disagreeing_in_type_are_refused_where_the_second_says_it(layers):
    error = layers.error(user="resources: {cpus: 2}\n", project="resources:\n  - cpus=2\n")
    assert_points_at(error, layers.project_file, 1, "resources", "expected a mapping")


def test_an_aishell_error_through_the_cli_is_exit_2_without_a_traceback(layers, capsys, monkeypatch):
    from aishell_runner import cli

    layers.write(project=textwrap.dedent("""\
        env:
          DEBUG: true
        """))
    monkeypatch.setenv("HOME", str(layers.home))
    monkeypatch.chdir(layers.project)
    code = cli.main(["settings", "--check"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{layers.project_file}:2: env.DEBUG: the value of DEBUG is not text" in err
    assert "Traceback" not in err


def test_docs_show_every_aishell_key():
    from aishell_runner.settings.aishell_forms import _HINT_FOR, _WEAKENING, AISHELL_KEYS

    text = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    section = text[text.index("## aishell's settings"):text.index("## A complete example")]
    for key in (*AISHELL_KEYS, "custom_patterns", "allowlist", "enabled"):
        assert key in section, key
    for flag in ("--cpus", "--memory", "--pids-limit", "--env", "--volume", "--publish", "--read-only",
                 *_WEAKENING, *list(_HINT_FOR)[:5]):
        assert flag.lstrip("-") in section, flag


def test_origins_and_locks_see_the_lines_aishell_keys_were_written_on(layers):
    from aishell_runner.settings.origins import explain

    layers.write(user="env:\n  A: '1'\n", project="harness_args:\n  claude:\n    - --verbose\n"
                                                 "docker_args:\n  - --cpus=2\n  - --memory=4g\n")
    found = {origin.key: origin for origin in explain(layers.project, system_file=layers.system,
                                                        user_file=layers.user, environ={"HOME": str(layers.home)})}
    assert found["env"].source == f"{layers.user}:2"
    assert found["agents.claude.args"].source == f"{layers.project_file}:3"
    assert (found["resources.memory"].value, found["resources.memory"].source) == ("4g", f"{layers.project_file}:6")
    error = layers.error(system="locks:\n  resources.cpus: {at_most: 1}\n")
    # A lock's refusal keeps its own exit status and names the locked key; the line is the flag's.
    assert (error.file, error.line) == (layers.project_file, 5)
    assert "resources.cpus" in error.message
