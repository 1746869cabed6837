"""The sandbox_image role's hash and build-log helpers (roles/sandbox_image/filter_plugins), and what
`aishell-run build` asks the role for."""

import argparse

from aishell_runner import images
from aishell_runner.commands import build

filters = images._filters()

DOCKER_FAILURE = (
    "Error building localhost/x:latest - code: 1, message: The command '/bin/sh -c exit 7' returned a non-zero "
    "code: 7, logs: ['Step 1/3 : FROM base', '', ' ---> 1234', 'Step 2/3 : RUN exit 7', ' ---> Running in 99']"
)
PODMAN_FAILURE = """Failed to build image localhost/x:latest
STEP 1/3: FROM base
STEP 2/3: RUN npm install --global @anthropic-ai/claude-code@0.0.0
npm error code ETARGET
npm error notarget No matching version found for @anthropic-ai/claude-code@0.0.0.
Error: building at STEP "RUN npm install": while running runtime: exit status 1"""


def test_docker_failure_names_the_step_and_the_reason():
    failure = filters.build_failure(DOCKER_FAILURE)
    assert failure["step"] == "Step 2/3 : RUN exit 7"
    assert failure["reason"] == "The command '/bin/sh -c exit 7' returned a non-zero code: 7"
    assert failure["lines"][-1] == " ---> Running in 99"


def test_podman_failure_names_the_step_and_the_last_error():
    failure = filters.build_failure(PODMAN_FAILURE)
    assert failure["step"].startswith("STEP 2/3: RUN npm install")
    assert failure["reason"].startswith("Error: building at STEP")


def test_empty_output_still_gives_a_reason():
    assert filters.build_failure("")["reason"] == "no output"


def test_agent_packages_skip_disabled_agents_in_a_stable_order():
    packages = {"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex", "gemini": "@google/gemini-cli"}
    agents = {"gemini": "0.61.0", "claude": "2.1.332", "codex": ""}
    expected = ["@anthropic-ai/claude-code@2.1.332", "@google/gemini-cli@0.61.0"]
    assert filters.agent_packages(agents, packages) == expected


def test_foundation_hash_changes_with_each_input_and_ignores_disabled_agents():
    settings = images.settings_with({})
    base = filters.foundation_hash(settings, "t", "ca")
    assert base == filters.foundation_hash(dict(settings), "t", "ca")
    with_disabled_extra = {**settings, "sandbox_image_agents": {**settings["sandbox_image_agents"], "gemini": ""}}
    without_gemini = {**settings, "sandbox_image_agents": {
        k: v for k, v in settings["sandbox_image_agents"].items() if k != "gemini"}}
    assert filters.foundation_hash(with_disabled_extra, "t", "ca") == filters.foundation_hash(without_gemini, "t", "ca")
    assert filters.foundation_hash(settings, "t2", "ca") != base
    assert filters.foundation_hash(settings, "t", "ca2") != base
    assert filters.foundation_hash({**settings, "sandbox_image_node_version": "0"}, "t", "ca") != base


def test_the_egress_hash_follows_the_base_the_ca_bundle_and_its_files_not_the_agents():
    """Projects whose images differ only in their agents (or Node) share one proxy: a launch of either never makes
    the proxy anew for the other (images.egress_hash is what the proxy's configuration label is made of)."""
    settings = images.settings_with({})
    files = {"squid.conf": "s", "broker.py": "b"}
    base = filters.egress_hash(settings, "ca", files)
    other_agents = {**settings, "sandbox_image_agents": {**settings["sandbox_image_agents"], "codex": ""},
                    "sandbox_image_node_version": "0"}
    assert filters.foundation_hash(other_agents, "t", "ca") != filters.foundation_hash(settings, "t", "ca")
    assert filters.egress_hash(other_agents, "ca", files) == base
    for changed in ({"sandbox_image_base_source": "debootstrap"}, {"sandbox_image_registry_base": "example/debian:12"},
                    {"sandbox_image_offline_base": "localhost/other:1"}):
        assert filters.egress_hash({**settings, **changed}, "ca", files) != base, changed
    assert filters.egress_hash(settings, "ca2", files) != base
    assert filters.egress_hash(settings, "ca", {**files, "squid.conf": "s2"}) != base
    # And as the CLI computes it, from the settings a launch has: its agents are not in it either.
    assert images.egress_hash(settings) == images.egress_hash(other_agents)


def test_extension_hash_follows_its_foundation():
    assert filters.extension_hash("f1", "d") != filters.extension_hash("f2", "d")


def test_project_image_names_are_readable_and_unique_per_path(tmp_path):
    one, two = tmp_path / "My App", tmp_path / "other" / "My App"
    assert images.extension_name(one).startswith("localhost/aishell-project-my-app-")
    assert images.extension_name(one) != images.extension_name(two)


def test_build_wants_what_the_project_settings_choose_and_its_flags_override(layers):
    """`aishell-run build` reads the settings a launch reads (it ignored .aishell/config.yaml before)."""
    (layers.project / ".aishell" / "Dockerfile").write_text("FROM localhost/aishell-foundation:latest\n")
    chosen = layers.load(project="""\
        image: {base_source: debootstrap, fallback: false}
        agents: {claude: {version: "2.1.300"}, gemini: {version: ""}}
        """)
    flags = argparse.Namespace(force=False, base_source=None, no_fallback=False, ca_bundle=None, agent=[])
    wanted = build.overrides(flags, chosen, layers.project)
    assert wanted == {**images.overrides_for(chosen, layers.project), "sandbox_image_force": False}
    assert wanted["sandbox_image_base_source"] == "debootstrap" and wanted["sandbox_image_base_fallback"] is False
    assert wanted["sandbox_image_agents"]["claude"] == "2.1.300" and wanted["sandbox_image_agents"]["gemini"] == ""
    assert wanted["sandbox_image_extension_name"] == images.extension_name(layers.project)

    flags = argparse.Namespace(force=True, base_source="registry", no_fallback=False, ca_bundle=None,
                               agent=["claude=2.1.332"])
    wanted = build.overrides(flags, chosen, layers.project)
    assert wanted["sandbox_image_base_source"] == "registry" and wanted["sandbox_image_force"] is True
    assert wanted["sandbox_image_agents"]["claude"] == "2.1.332" and wanted["sandbox_image_agents"]["gemini"] == ""


def test_the_image_role_installs_exactly_the_registrys_agents():
    """The role keeps how each agent is installed (npm package, pinned version, so it works on its own in a
    playbook); the registry (aishell_runner/agents.py) is what every launch knows. The two name the same
    agents, or an agent would be launchable but never installed, or installed but never launchable."""
    import yaml

    from aishell_runner.agents import AGENTS

    role = images.role_dir()
    packages = yaml.safe_load((role / "vars" / "main.yml").read_text())["__sandbox_image_agent_packages"]
    versions = yaml.safe_load((role / "defaults" / "main.yml").read_text())["sandbox_image_agents"]
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    documented = spec["argument_specs"]["main"]["options"]["sandbox_image_agents"]["options"]
    assert list(packages) == list(versions) == list(documented) == list(AGENTS)


def _foundation_dockerfile(agents: dict[str, str]) -> str:
    import jinja2

    template = (images.role_dir() / "templates" / "Dockerfile.foundation.j2").read_text()
    packages = filters.agent_packages(agents, {"claude": "@anthropic-ai/claude-code", "gemini": "@google/gemini-cli"})
    return jinja2.Template(template).render(base_image="base", ca_bundle=False, node_arch="x64", node_version="1",
                                            npm_version="1", agent_packages=packages, detect_secrets_version="1",
                                            labels={})


def test_the_image_holds_the_gemini_settings_the_registry_points_at():
    """Gemini CLI reads system settings only from root's files, so the image has them (agents.py says why);
    the launch's GEMINI_CLI_SYSTEM_SETTINGS_PATH names the one that holds its admin policy."""
    import json
    import re

    from aishell_runner.agents import GEMINI_AUTONOMOUS_SETTINGS, GEMINI_IMAGE_FILES, REGISTRY

    dockerfile = _foundation_dockerfile({"claude": "1", "gemini": "0.61.0"})
    written = dict(re.findall(r"printf '%s\\n' (.+?) \\\n +> (\S+)", dockerfile))
    assert sorted(written.values()) == sorted(GEMINI_IMAGE_FILES)
    contents = {path: content for content, path in written.items()}
    settings = json.loads(contents[GEMINI_AUTONOMOUS_SETTINGS].strip("'"))
    assert settings == {"adminPolicyPaths": ["/etc/gemini-cli/aishell-autonomous.toml"]}
    assert "'decision = \"allow\"'" in contents["/etc/gemini-cli/aishell-autonomous.toml"]
    assert REGISTRY["gemini"].autonomy_env == {"GEMINI_CLI_SYSTEM_SETTINGS_PATH": GEMINI_AUTONOMOUS_SETTINGS}
    assert "/etc/gemini-cli" not in _foundation_dockerfile({"claude": "1", "gemini": ""})


def test_each_image_has_its_own_tag_from_its_inputs():
    assert filters.addressed_image("localhost/aishell-foundation:latest", "0123456789abcdef99") == \
        "localhost/aishell-foundation:0123456789abcdef"
    assert filters.addressed_image("registry.example:5000/team/foundation", "feedfacefeedface00") == \
        "registry.example:5000/team/foundation:feedfacefeedface"  # a port is not a tag


def test_a_from_of_the_foundations_name_becomes_a_from_of_its_own_tag():
    import re

    dockerfile = ("# FROM localhost/aishell-foundation:latest in a comment stays\n"
                  "FROM localhost/aishell-foundation:latest\nRUN true\n"
                  "from --platform=linux/amd64 localhost/aishell-foundation AS tools\n"
                  "FROM localhost/aishell-foundation:latest-custom\nFROM debian:12\n")
    pattern = filters.foundation_from("localhost/aishell-foundation:latest")
    assert re.sub(pattern, r"\g<1>localhost/aishell-foundation:abc", dockerfile, flags=re.MULTILINE) == (
        "# FROM localhost/aishell-foundation:latest in a comment stays\n"
        "FROM localhost/aishell-foundation:abc\nRUN true\n"
        "from --platform=linux/amd64 localhost/aishell-foundation:abc AS tools\n"
        "FROM localhost/aishell-foundation:latest-custom\nFROM debian:12\n")


class Images:
    """An engine that has some images."""

    def __init__(self, *images: str):
        self.images, self.asked = set(images), []

    def images_present(self, *names):
        self.asked.append(names)
        return self.images & set(names)


def test_the_warm_check_asks_for_each_images_own_tag_once(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM localhost/aishell-foundation:latest\n")
    settings = images.settings_with({"sandbox_image_extension_dockerfile": str(dockerfile),
                                     "sandbox_image_extension_name": "localhost/aishell-project-p-1:latest"})
    foundation = "f" * 64
    wanted = images.wanted_images(settings, foundation)
    assert [image.image for image in wanted.values()] == [
        "localhost/aishell-foundation:ffffffffffffffff",
        f"localhost/aishell-egress:{images.egress_hash(settings)[:16]}",
        f"localhost/aishell-project-p-1:{images.extension_hash(foundation, dockerfile)[:16]}"]
    assert images.wanted_image(settings, foundation) == wanted["extension"].image
    # Another user's foundation under the name as set is not this one: only the own tags count.
    engine = Images("localhost/aishell-foundation:latest", wanted["foundation"].image, wanted["egress"].image)
    freshness = images.check(engine, settings, foundation)
    assert (freshness.foundation_current, freshness.egress_current, freshness.extension_current) == \
        (True, True, False)
    assert engine.asked == [tuple(image.image for image in wanted.values())]
