"""Settings: three layers merged (maps merge, lists concatenate, nearest wins) and checked with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aishell_runner import settings
from aishell_runner.settings import AgentSettings, EnvVar, Mount, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def assert_points_at(error: SettingsError, file: Path, line: int, key: str) -> None:
    assert error.exit_code == 2
    assert error.file == file and error.line == line and error.key == key
    assert str(file) in error.message and f":{line}:" in error.message and key in error.message
    assert error.hint


# --------------------------------------------------------------------------------------------------- defaults


def test_no_files_gives_the_defaults(layers):
    result = layers.load()
    assert result.engine == "auto"
    assert result.harness == "claude"
    assert result.agents == {agent: AgentSettings(None, (), True)
                             for agent in ("claude", "codex", "gemini", "opencode")}
    assert result.mounts == result.env == result.ports == result.pre_start == ()
    assert result.resources == settings.Resources(None, None, None)
    assert result.image == settings.ImageSettings("registry", True, "auto", None)
    assert result.sources == ()
    assert result.raw == {}


def test_every_default_comes_from_the_one_table_and_the_schema_publishes_it(layers):
    built = layers.load()
    for key, value in settings.DEFAULTS.items():
        path = key.replace("*", "claude").split(".")
        found = built
        for part in path:
            found = found[part] if isinstance(found, dict) else getattr(found, part)
        assert (list(found) if isinstance(found, tuple) else found) == value, key
        node = settings.SCHEMA
        for part in path:
            node = node["properties"][part]
        assert node["default"] == value, key
    # No default anywhere else in the schema: the table is the one home.
    published = json.dumps(settings.SCHEMA)
    assert published.count('"default":') == sum(len(settings.AGENTS) if "*" in key else 1 for key in settings.DEFAULTS)


def test_empty_and_comment_only_files_are_empty_layers(layers):
    layers.write(system="", user="# nothing yet\n")
    assert layers.load().sources == (layers.system, layers.user)


def test_default_dockerfile_is_used_when_it_exists(layers):
    (layers.project / ".aishell" / "Dockerfile").write_text("FROM scratch\n")
    assert layers.load().image.dockerfile == layers.project / ".aishell" / "Dockerfile"


def test_default_user_file_follows_xdg_config_home(tmp_path):
    assert settings.default_user_file({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "aishell" / "config.yaml"
    assert settings.default_user_file({"HOME": "/h"}) == Path("/h/.config/aishell/config.yaml")
    assert settings.default_user_file({"HOME": "/h", "XDG_CONFIG_HOME": "rel"}) == Path(
        "/h/.config/aishell/config.yaml"
    )


def test_user_file_defaults_to_the_standard_location(layers):
    layers.write(user="harness: codex\n")
    result = load_settings(layers.project, system_file=layers.system, environ={"HOME": str(layers.home)})
    assert result.harness == "codex"


# --------------------------------------------------------------------------------------------------- merging


def test_nearer_layer_wins_for_scalars(layers):
    layers.write(system="engine: docker\nharness: codex\n", user="harness: gemini\n", project="engine: podman\n")
    result = layers.load()
    assert (result.engine, result.harness) == ("podman", "gemini")
    assert result.sources == (layers.system, layers.user, layers.project_file)


def test_maps_merge_recursively(layers):
    layers.write(
        system="resources: {cpus: 2, memory: 1g}\nagents: {claude: {version: '1.0.0'}}\n",
        user="resources: {memory: 4g}\nagents: {codex: {version: latest}}\n",
        project="resources: {pids: 200}\nagents: {claude: {args: [--verbose]}}\n",
    )
    result = layers.load()
    assert result.resources == settings.Resources(cpus=2.0, memory="4g", pids=200)
    assert result.agents["claude"] == AgentSettings("1.0.0", ("--verbose",), True)
    assert result.agents["codex"] == AgentSettings("latest", (), True)
    assert result.raw["resources"] == {"cpus": 2, "memory": "4g", "pids": 200}


def test_lists_concatenate_farthest_first(layers):
    layers.write(
        system="env: [A=1]\npre_start: [echo system]\n",
        user="env: [B]\npre_start: [echo user]\n",
        project="env: [A=2]\npre_start: [echo project]\n",
    )
    result = layers.load()
    assert result.env == (EnvVar("A", "1"), EnvVar("B", None), EnvVar("A", "2"))
    assert result.pre_start == ("echo system", "echo user", "echo project")


def test_the_same_file_as_two_layers_is_read_once(layers):
    layers.write(user="pre_start: [echo once]\n")
    result = load_settings(layers.project, system_file=layers.user, user_file=layers.user, environ={})
    assert result.pre_start == ("echo once",)
    assert result.sources == (layers.user,)


def test_reserved_keys_are_accepted_and_kept_in_raw(layers):
    layers.write(
        project="""\
        network: {mode: allowlist, allow: [pypi.org]}
        """
    )
    raw = layers.load().raw
    assert raw["network"] == {"mode": "allowlist", "allow": ["pypi.org"]}


def test_exclude_and_scan_settings(layers):
    layers.write(
        user="scan: {allow: ['tests/fixtures/**']}\n",
        project="""\
        exclude: [secrets/, '*.pem']
        scan:
          content: false
          allow: [0123456789abcdef]
          rules: [{id: customer-data, patterns: ['*.sqlite'], severity: high}]
        """,
    )
    loaded = layers.load()
    assert loaded.exclude == ("secrets/", "*.pem")
    assert loaded.scan.content is False
    assert loaded.scan.allow == ("tests/fixtures/**", "0123456789abcdef")
    assert [(r.id, r.patterns, r.severity) for r in loaded.scan.rules] == [("customer-data", ("*.sqlite",), "high")]


@pytest.mark.parametrize("entry", ["../outside", "~/.ssh", "a/../../b"])
def test_exclude_outside_the_project_is_refused(layers, entry):
    error = layers.error(f"exclude: ['{entry}']\n")
    assert error.key == "exclude[0]"
    assert "leaves the project" in error.message


def test_yaml_merge_keys_are_allowed(layers):
    layers.write(project="base: &b {claude: {version: '1.0'}}\n")
    error = layers.error("x: &b {version: '1.0'}\nagents:\n  claude:\n    <<: *b\n    version: '2.0'\n")
    assert error.key == "x"  # only the unknown key is wrong, not the override of a merged key
    layers.write(project="agents:\n  claude: &b {version: '1.0'}\n  codex:\n    <<: *b\n    version: '2.0'\n")
    assert layers.load().agents["codex"].version == "2.0"


# --------------------------------------------------------------------------------------------------- errors


def test_malformed_yaml_names_the_file_and_line(layers):
    error = layers.error("harness: claude\nmounts: [a, b\nengine: docker\n")
    assert error.file == layers.project_file and error.line in (2, 3, 4)
    assert "not valid YAML" in error.message and str(layers.project_file) in error.message


def test_bad_indentation_is_a_yaml_error(layers):
    error = layers.error("resources:\n  cpus: 2\n memory: 1g\n")
    assert "not valid YAML" in error.message and error.line == 3


def test_top_level_must_be_a_mapping(layers):
    error = layers.error("- harness\n- claude\n")
    assert error.file == layers.project_file and error.line == 1
    assert "top level must be a mapping" in error.message


def test_unknown_key_suggests_the_right_one(layers):
    error = layers.error("engine: docker\nharnes: claude\n")
    assert_points_at(error, layers.project_file, 2, "harnes")
    assert "did you mean 'harness'?" in error.message


def test_unknown_nested_key_names_the_full_path(layers):
    error = layers.error("resources:\n  cpus: 1\n  memroy: 1g\n")
    assert_points_at(error, layers.project_file, 3, "resources.memroy")
    assert "did you mean 'memory'?" in error.message


def test_key_at_the_wrong_level_suggests_where_it_belongs(layers):
    error = layers.error("memory: 2g\n")
    assert "did you mean 'resources.memory'?" in error.message


def test_error_in_the_user_layer_names_the_user_file(layers):
    layers.write(system="harness: codex\n", user="\n\nengine: dokker\n")
    with pytest.raises(SettingsError) as caught:
        layers.load()
    assert_points_at(caught.value, layers.user, 3, "engine")
    assert "did you mean 'docker'?" in caught.value.message


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ("harness: 3\n", 1, "harness", "expected text"),
        ("mounts: /data\n", 1, "mounts", "expected a list"),
        ("resources: 2\n", 1, "resources", "expected a mapping"),
        ("image:\n  fallback: maybe\n", 2, "image.fallback", "expected true or false"),
        ("resources:\n  pids: 1.5\n", 2, "resources.pids", "expected a whole number"),
        ("resources:\n  pids: 0\n", 2, "resources.pids", "at least 1"),
        ("resources:\n  cpus: 0\n", 2, "resources.cpus", "greater than 0"),
        ("resources:\n  cpus: .inf\n", 2, "resources.cpus", "finite"),
        ("resources:\n  cpus: yes\n", 2, "resources.cpus", "expected a number"),
        ("resources:\n  memory: 2 GB\n", 2, "resources.memory", "not a memory size"),
        ("resources:\n  memory: 0m\n", 2, "resources.memory", "not a memory size"),
        ("resources:\n  memory: 512\n", 2, "resources.memory", "expected text"),
        ("image:\n  base_source: docker\n", 2, "image.base_source", "not one of"),
        ("image:\n  dockerfile: missing/Dockerfile\n", 2, "image.dockerfile", "does not exist"),
        ("image:\n  dockerfile: 'x;rm -rf'\n", 2, "image.dockerfile", "metacharacter"),
        ("image:\n  ca_bundle: /nonexistent.pem\n", 2, "image.ca_bundle", "does not exist"),
        ("agents:\n  claude:\n    version: 1.2\n", 3, "agents.claude.version", "expected text"),
        ("agents:\n  claude:\n    version: '1.0; curl x'\n", 3, "agents.claude.version", "not a version"),
        ('agents:\n  claude:\n    version: "1.0\\n"\n', 3, "agents.claude.version", "not a version"),
        ("agents:\n  aider: {}\n", 2, "agents.aider", "unknown key"),
        ("env:\n  - OK=1\n  - 1BAD=x\n", 3, "env[1]", "not a valid environment variable name"),
        ("env:\n  - BAD-NAME\n", 2, "env[0]", "not a valid environment variable name"),
        ("env:\n  - A: b\n", 2, "env[0]", "expected text"),
        ("ports:\n  - '8080:80'\n  - '80'\n", 3, "ports[1]", "not a port mapping"),
        ("ports:\n  - '70000:80'\n", 2, "ports[0]", "out of range"),
        ("ports:\n  - '0:80'\n", 2, "ports[0]", "out of range"),
        ("ports:\n  - '300.0.0.1:80:80'\n", 2, "ports[0]", "not an IPv4 address"),
        ("ports:\n  - 3000:30\n", 2, "ports[0]", "expected text"),
        ("pre_start:\n  - ''\n", 2, "pre_start[0]", "must not be empty"),
        ("network:\n  mode: closed\n", 2, "network.mode", "not one of"),
        ("exclude: [1]\n", 1, "exclude[0]", "expected text"),
        ("scan: []\n", 1, "scan", "expected a mapping"),
        ("harness:\n", 1, "harness", "expected text, got nothing"),
    ],
)
def test_bad_values_name_file_line_and_key(layers, text, line, key, words):
    error = layers.error(text)
    assert_points_at(error, layers.project_file, line, key)
    assert words in error.message


def test_quote_hint_shows_what_was_written(layers):
    error = layers.error("agents:\n  claude:\n    version: 1.10\n")
    assert '"1.10"' in error.hint
    error = layers.error("ports: [3000:30]\n")
    assert '"3000:30"' in error.hint


def test_non_text_keys_and_repeated_keys_are_refused(layers):
    error = layers.error("harness: claude\n1: x\n")
    assert error.line == 2 and "not text" in error.message
    error = layers.error("harness: claude\nengine: docker\nharness: codex\n")
    assert error.line == 3 and "appears twice" in error.message


def test_recursive_alias_is_refused(layers):
    error = layers.error("scan: &a {self: *a}\n")
    assert error.file == layers.project_file and "alias" in error.message


def test_unreadable_and_non_utf8_files(layers):
    layers.project_file.write_bytes(b"harness: claude\n\xff\xfe\n")
    with pytest.raises(SettingsError, match="UTF-8") as caught:
        layers.load()
    assert caught.value.line == 2
    layers.project_file.unlink()
    layers.project_file.mkdir()
    with pytest.raises(SettingsError, match="cannot read"):
        layers.load()


def test_errors_in_lists_point_at_the_layer_that_added_the_item(layers):
    (layers.project / "data").mkdir()
    layers.write(system="mounts: [/]\n", user="mounts:\n  - data\n  - /nope\n")
    with pytest.raises(SettingsError) as caught:
        layers.load(allow_risky_mounts=True)
    assert_points_at(caught.value, layers.user, 3, "mounts[2]")
    assert "does not exist" in caught.value.message


# --------------------------------------------------------------------------------------------------- mounts


def test_relative_and_home_mounts_resolve(layers):
    (layers.project / "data").mkdir()
    (layers.home / "datasets").mkdir()
    layers.write(project="mounts:\n  - data\n  - ~/datasets:/data:ro\n  - ./data:/work/d:rw\n")
    assert layers.load().mounts == (
        Mount(layers.project / "data", layers.project / "data", False),
        Mount(layers.home / "datasets", Path("/data"), True),
        Mount(layers.project / "data", Path("/work/d"), False),
    )


def test_mount_source_must_exist_and_target_be_absolute(layers):
    error = layers.error("mounts: [missing]\n")
    assert_points_at(error, layers.project_file, 1, "mounts[0]")
    assert "does not exist" in error.message
    (layers.project / "data").mkdir()
    error = layers.error("mounts:\n  - data:relative\n")
    assert_points_at(error, layers.project_file, 2, "mounts[0]")
    assert "not an absolute path" in error.message


@pytest.mark.parametrize("spec", ["a:b:c:d", ":x", "data:/x:ro:ro", "~bob/x"])
def test_malformed_mounts(layers, spec):
    (layers.project / "data").mkdir()
    error = layers.error(f"mounts: ['{spec}']\n")
    assert error.key == "mounts[0]" and error.line == 1


@pytest.mark.parametrize("spec", ["data;rm -rf ~", "$(whoami)", "data`id`", "a|b", "a&b", "a>b"])
def test_mounts_with_shell_metacharacters_are_refused(layers, spec):
    error = layers.error(f"mounts: [{json.dumps(spec)}]\n")
    assert "metacharacter" in error.message and error.key == "mounts[0]"


def test_mount_with_a_control_character_is_refused(layers):
    error = layers.error('mounts: ["data\\nx"]\n')
    assert "control character" in error.message


@pytest.mark.parametrize(
    ("spec", "risk"),
    [
        ("/", "whole host file system"),
        ("~", "home directory"),
        ("/etc", "/etc"),
        ("/etc/ssl:/certs:ro", "/etc"),
        ("~/.ssh", "SSH private keys"),
        ("~/.ssh/keys", "SSH private keys"),
        ("run/docker.sock", "engine socket gives root on the host"),
        ("../..", "contains your home directory"),
    ],
)
def test_risky_mounts_are_refused_unless_allowed(layers, spec, risk):
    (layers.home / ".ssh" / "keys").mkdir(parents=True)
    (layers.project / "run").mkdir()
    (layers.project / "run" / "docker.sock").touch()
    error = layers.error(f"mounts: ['{spec}']\n")
    assert risk in error.message and "refusing" in error.message
    assert "--allow-risky-mounts" in error.hint
    assert_points_at(error, layers.project_file, 1, "mounts[0]")
    assert len(layers.load(allow_risky_mounts=True).mounts) == 1


@pytest.mark.parametrize("spec", ["~/.claude", "~/.claude/commands", "~/.claude.json", "~/.config",
                                  "~/.local/share/opencode"])
def test_an_agents_host_configuration_is_mounted_read_only_or_not_at_all(layers, spec):
    for directory in (".claude/commands", ".config/opencode", ".local/share/opencode"):
        (layers.home / directory).mkdir(parents=True)
    (layers.home / ".claude.json").write_text("{}")
    error = layers.error(f"mounts: ['{spec}']\n")
    assert "an agent's configuration on the host" in error.message and "read-only" in error.message
    assert layers.load(project=f"mounts: ['{spec}:/agent-config:ro']\n").mounts[0].readonly


def test_podman_socket_under_the_runtime_dir_is_risky(layers):
    runtime = layers.root / "run-user"
    (runtime / "podman").mkdir(parents=True)
    (runtime / "podman" / "podman.sock").touch()
    environ = {"HOME": str(layers.home), "XDG_RUNTIME_DIR": str(runtime)}
    for spec in (f"{runtime}/podman/podman.sock", str(runtime)):
        error = layers.error(f"mounts: ['{spec}']\n", environ=environ)
        assert "engine socket" in error.message


def test_symlink_to_a_risky_place_is_refused(layers):
    (layers.project / "innocent").symlink_to("/etc")
    error = layers.error("mounts: [innocent]\n")
    assert "/etc" in error.message


# --------------------------------------------------------------------------------------------------- env, ports, image


def test_env_name_only_passes_the_host_value(layers):
    layers.write(project="env:\n  - TOKEN\n  - URL=https://x.test/?a=b\n  - EMPTY=\n")
    assert layers.load().env == (EnvVar("TOKEN", None), EnvVar("URL", "https://x.test/?a=b"), EnvVar("EMPTY", ""))


def test_valid_ports(layers):
    layers.write(project="ports: ['8080:80', '127.0.0.1:3000:3000', '65535:1']\n")
    assert layers.load().ports == ("8080:80", "127.0.0.1:3000:3000", "65535:1")


def test_image_settings(layers):
    (layers.project / "ci").mkdir()
    (layers.project / "ci" / "Dockerfile").write_text("FROM x\n")
    (layers.home / "ca.pem").write_text("pem\n")
    layers.write(
        user="image: {ca_bundle: ~/ca.pem}\n",
        project="image: {base_source: debootstrap, fallback: false, dockerfile: ci/Dockerfile}\n",
    )
    assert layers.load().image == settings.ImageSettings(
        "debootstrap", False, str(layers.home / "ca.pem"), layers.project / "ci" / "Dockerfile"
    )


# --------------------------------------------------------------------------------------------------- schema


def test_published_schema_matches_the_code():
    published = json.loads((REPO / "docs" / "config.schema.json").read_text())
    assert published == json.loads(settings.schema_json())


def test_every_schema_property_has_a_description_and_objects_are_closed():
    def walk(schema: dict, where: str) -> None:
        for name, sub in schema.get("properties", {}).items():
            assert sub.get("description"), f"{where}{name} has no description"
            if name == "internal_hosts":  # a map: any key of the right form, each value checked
                assert sub["propertyNames"] and sub["additionalProperties"]["pattern"], f"{where}{name} is unchecked"
            elif sub.get("type") == "object" and name not in ("scan", "security", "locks"):
                assert sub.get("additionalProperties") is False, f"{where}{name} is open"
            walk(sub, f"{where}{name}.")
            if "items" in sub:
                assert sub["items"].get("description")

    assert settings.SCHEMA["additionalProperties"] is False
    walk(settings.SCHEMA, "")


def test_docs_mention_every_top_level_key():
    text = (REPO / "docs" / "settings.md").read_text()
    for key in settings.SCHEMA["properties"]:
        assert f"{key}:" in text
    assert "yaml-language-server: $schema=" in text


# --------------------------------------------------------------------------------------------------- network


def test_network_defaults_to_allowlist_and_layers_add_hosts(layers):
    assert layers.load().network == settings.NetworkSettings("allowlist", (), (), {}, None)
    layers.write(system="network: {allow: [corp.example.com]}\n",
                 user="network: {internal_hosts: {git.corp.test: 10.1.2.3}, subnet: 10.9.0.0/24}\n",
                 project="network:\n  allow: ['*.Example.org']\n  registries: [npm, npm]\n")
    network = layers.load().network
    assert network.allow == ("corp.example.com", "*.example.org")
    assert network.registries == ("npm",)
    assert network.internal_hosts == {"git.corp.test": "10.1.2.3"} and network.subnet == "10.9.0.0/24"


def test_a_project_cannot_open_internal_hosts(layers):
    error = layers.error("network:\n  internal_hosts:\n    db.internal: 10.0.0.5\n")
    assert_points_at(error, layers.project_file, 2, "network.internal_hosts")
    assert "~/.config/aishell/config.yaml" in error.hint


@pytest.mark.parametrize(("text", "line", "key", "problem"), [
    ("network:\n  allow: ['https://example.com/x']\n", 2, "network.allow[0]", "is not a host name"),
    ("network:\n  allow: ['*']\n", 2, "network.allow[0]", "is not a host name"),
    ("network:\n  mode: closed\n", 2, "network.mode", "is not one of"),
    ("network:\n  registries: [maven]\n", 2, "network.registries[0]", "is not one of"),
    ("network:\n  subnet: 8.8.8.0/24\n", 2, "network.subnet", "is not a private IPv4 subnet"),
    ("network:\n  subnet: 10.0.0.1/24\n", 2, "network.subnet", "is not a private IPv4 subnet"),
])
def test_bad_network_settings_name_the_key(layers, text, line, key, problem):
    error = layers.error(text)
    assert_points_at(error, layers.project_file, line, key)
    assert problem in str(error)


def test_an_internal_host_needs_a_real_address(layers):
    layers.write(user="network:\n  internal_hosts:\n    db.internal: 10.0.0.300\n")
    with pytest.raises(SettingsError) as caught:
        layers.load()
    assert_points_at(caught.value, layers.user, 3, 'network.internal_hosts["db.internal"]')
    assert "is not an IPv4 address" in str(caught.value)
