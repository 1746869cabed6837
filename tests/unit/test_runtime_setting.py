"""security.runtime: runc, runsc (gVisor) or auto; what the plan holds, the options it becomes, and a runsc the
engine lacks refused before anything starts. Engines are stand-ins answering as Docker and Podman do."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aishell_runner import cli
from aishell_runner.commands import check, launch
from aishell_runner.engines import runtimes
from aishell_runner.engines.docker import Docker
from aishell_runner.engines.podman import Podman
from aishell_runner.errors import EXIT_ENGINE_UNAVAILABLE, AishellError
from aishell_runner.paths import role_plugin
from aishell_runner.plan import make_plan
from aishell_runner.settings import SecuritySettings
from aishell_runner.settings.locks import LockedKeyError

# What `docker info --format '{{json .Runtimes}}'` prints (Docker 20.10), with and without runsc registered.
DOCKER_RUNTIMES = {"io.containerd.runc.v2": {"path": "runc"}, "io.containerd.runtime.v1.linux": {"path": "runc"},
                   "runc": {"path": "runc"}}
DOCKER_WITH_RUNSC = {**DOCKER_RUNTIMES, "runsc": {"path": "/usr/bin/runsc"}}


class FakeDocker(Docker):
    """Docker whose `info` answers with `runtimes`, counting the questions; no other call is allowed."""

    def __init__(self, runtimes: dict, config: Path | None = None):
        self.runtimes = runtimes
        self.asked = 0
        self.config = config

    def run(self, *args, **kwargs):
        assert args[:1] == ("info",), f"nothing but `docker info` may run: {args}"
        self.asked += 1
        return subprocess.CompletedProcess(args, 0, json.dumps(self.runtimes) + "\n", "")

    def runtime_config_paths(self):
        return None if self.config is None else [self.config]


@pytest.fixture(autouse=True)
def state(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user settings of this machine


# --------------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("value", ["runc", "runsc", "auto"])
def test_each_runtime_is_accepted_and_runc_is_the_default(layers, value):
    assert layers.load().security.runtime == "runc"
    assert layers.load(project=f"security: {{runtime: {value}}}\n").security.runtime == value


def test_an_unknown_runtime_is_named_with_the_choices(layers):
    error = layers.error(project="security:\n  runtime: gvisor\n")
    assert error.exit_code == 2 and error.file == layers.project_file and error.line == 2
    assert error.key == "security.runtime" and "'gvisor' is not one of: runc, runsc, auto" in error.message


def test_a_team_can_lock_every_sandbox_under_gvisor(layers):
    policy = "locks:\n  security.runtime: {value: runsc, reason: the fleet runs gVisor}\n"
    assert layers.load(system=policy).security.runtime == "runsc"  # supplied where no file sets it
    error = layers.error(system=policy, user="security: {runtime: runc}\n")
    assert isinstance(error, LockedKeyError) and error.exit_code == 3 and error.file == layers.user
    assert "locks security.runtime to 'runsc' (reason: the fleet runs gVisor)" in error.message


# --------------------------------------------------------------------------------------------------- plan and options


def options_for(tmp_path, runtime: str, engine=None, keep_id: bool = False) -> list[str]:
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    plan = make_plan(engine=engine or Docker(), image="img", project=project, harness="shell", command=["true"],
                     settings_mounts=[], settings_env=[], resources={}, interactive=False,
                     security=SecuritySettings(False, (), True, "default", runtime), environ={})
    data = plan.role_input()
    data["keep_id"] = keep_id
    return role_plugin("sandbox_launch", "launch_spec.py").launch_options(data)


def test_runc_adds_no_option_and_runsc_asks_the_engine_for_gvisor(tmp_path):
    assert "--runtime" not in options_for(tmp_path, "runc")
    options = options_for(tmp_path, "runsc")
    assert options[options.index("--runtime") + 1] == "runsc" and "--runtime-flag" not in options


def test_rootless_podman_runs_runsc_without_cgroups(tmp_path):
    options = options_for(tmp_path, "runsc", Podman(), keep_id=True)
    assert options[options.index("--runtime-flag") + 1] == "ignore-cgroups"


def test_the_runtime_is_part_of_the_plans_hash_and_shown(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()

    def plan(runtime):
        return make_plan(engine=Docker(), image="img", project=project, harness="shell", command=["true"],
                         settings_mounts=[], settings_env=[], resources={}, interactive=False,
                         security=SecuritySettings(False, (), True, "default", runtime), environ={})

    assert plan("runc").digest() != plan("runsc").digest()  # registering gVisor makes the next launch cold
    assert plan("runsc").public()["security"]["runtime"] == "runsc"
    assert "--runtime" in plan("runsc").public()["argv"]


def test_a_plan_of_an_older_release_without_a_runtime_renders_as_runc(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    data = make_plan(engine=Docker(), image="img", project=project, harness="shell", command=["true"],
                     settings_mounts=[], settings_env=[], resources={}, interactive=False, environ={}).role_input()
    del data["security"]["runtime"]
    assert "--runtime" not in role_plugin("sandbox_launch", "launch_spec.py").launch_options(data)


# --------------------------------------------------------------------------------------------------- resolving


def test_runc_asks_the_engine_nothing():
    engine = FakeDocker(DOCKER_RUNTIMES)
    assert runtimes.resolve("runc", engine) == "runc" and engine.asked == 0


@pytest.mark.parametrize(("answer", "chosen"), [(DOCKER_WITH_RUNSC, "runsc"), (DOCKER_RUNTIMES, "runc")])
def test_auto_is_runsc_where_the_engine_has_it(answer, chosen):
    assert runtimes.resolve("auto", FakeDocker(answer)) == chosen


def test_runsc_on_an_engine_without_it_names_the_setting_the_engine_and_the_fix():
    with pytest.raises(AishellError) as caught:
        runtimes.resolve("runsc", FakeDocker(DOCKER_RUNTIMES))
    error = caught.value
    assert error.exit_code == EXIT_ENGINE_UNAVAILABLE
    assert error.message == "security.runtime is runsc (gVisor), but docker has no runsc runtime registered"
    assert "sudo aishell-run bootstrap --engine docker --gvisor" in error.hint


def test_rootless_podman_refuses_runsc_and_auto_is_runc_there_without_asking(monkeypatch):
    # Measured: rootless Podman cannot run runsc with a network (gVisor issue 7449), registered or not.
    monkeypatch.setattr("os.geteuid", lambda: 1000)

    def run(self, *args, **kwargs):
        raise AssertionError(f"the engine was asked: {args}")

    monkeypatch.setattr(Podman, "run", run)
    assert runtimes.resolve("auto", Podman()) == "runc"
    with pytest.raises(AishellError) as caught:
        runtimes.resolve("runsc", Podman())
    error = caught.value
    assert error.exit_code == EXIT_ENGINE_UNAVAILABLE
    assert error.message.startswith("security.runtime is runsc (gVisor), but rootless Podman cannot run sandboxes "
                                    "under runsc") and "7449" in error.message
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert Podman().runtime_refusal("runsc") is None  # rootful Podman: the registration decides


def test_auto_whose_runsc_went_away_says_the_next_launch_picks_runc():
    error = runtimes.missing("podman", "auto")
    assert error.exit_code == EXIT_ENGINE_UNAVAILABLE and "auto and chose runsc" in error.message
    assert error.hint.startswith("launch again (auto now picks runc)") and "--engine podman --gvisor" in error.hint


def test_the_answer_is_kept_until_what_registers_runtimes_changes(tmp_path):
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text("{}")
    engine = FakeDocker(DOCKER_WITH_RUNSC, config=daemon_json)
    assert runtimes.resolve("auto", engine) == "runsc" and runtimes.resolve("auto", engine) == "runsc"
    assert engine.asked == 1  # the warm launch asks no engine
    engine.runtimes = DOCKER_RUNTIMES
    daemon_json.write_text('{"log-level": "warn"}')  # the registration taken back
    assert runtimes.resolve("auto", engine) == "runc" and engine.asked == 2


def test_a_cached_no_is_asked_again_before_it_refuses(tmp_path):
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text("{}")
    engine = FakeDocker(DOCKER_RUNTIMES, config=daemon_json)
    assert runtimes.resolve("auto", engine) == "runc"
    engine.runtimes = DOCKER_WITH_RUNSC  # registered by other means than the files (dockerd --add-runtime)
    assert runtimes.resolve("runsc", engine) == "runsc" and engine.asked == 2


def test_a_remote_engine_is_asked_every_time():
    engine = FakeDocker(DOCKER_WITH_RUNSC, config=None)
    runtimes.resolve("auto", engine)
    runtimes.resolve("auto", engine)
    assert engine.asked == 2


def test_podman_is_asked_through_its_runtime_option(monkeypatch):
    seen = []

    def run(self, *args, **kwargs):
        seen.append(args)
        found = args[1] in paths
        out = f"{args[1]} {paths.get(args[1])}\n" if found else ""
        return subprocess.CompletedProcess(args, 0 if found else 125, out,
                                           "" if found else f'Error: default OCI runtime "{args[1]}" not found')

    paths = {"runsc": "/usr/local/lib/aishell/runsc", "crun": "/usr/bin/crun"}
    monkeypatch.setattr(Podman, "run", run)
    assert Podman().has_runtime("runsc") and Podman().has_runtime("crun") and not Podman().has_runtime("kata")
    assert seen[0] == ("--runtime", "runsc", "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}")
    # The package's runsc that Podman finds by itself was not registered (nor verified) by bootstrap --gvisor.
    paths["runsc"] = "/usr/bin/runsc"
    assert not Podman().has_runtime("runsc")


def test_podmans_key_covers_the_containers_conf_drop_ins(tmp_path, monkeypatch):
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    drop_ins = tmp_path / "config" / "containers" / "containers.conf.d"
    drop_ins.mkdir(parents=True)
    (drop_ins / "60-mine.conf").write_text("[engine]\n")
    paths = Podman().runtime_config_paths()
    assert Path("/etc/containers/containers.conf.d") in paths and drop_ins / "60-mine.conf" in paths
    monkeypatch.setenv("CONTAINER_HOST", "unix:///tmp/vm/podman.sock")
    assert Podman().runtime_config_paths() is None  # macOS's VM: its files are not here


# --------------------------------------------------------------------------------------------------- the commands


def project_asking_for(tmp_path, runtime: str) -> Path:
    project = tmp_path / "proj"
    (project / ".aishell").mkdir(parents=True)
    (project / ".aishell" / "config.yaml").write_text(f"security: {{runtime: {runtime}}}\nnetwork: {{mode: none}}\n")
    return project


def test_a_launch_asking_for_runsc_on_an_engine_without_it_starts_nothing_and_exits_4(tmp_path, monkeypatch,
                                                                                     capsys):
    project = project_asking_for(tmp_path, "runsc")
    monkeypatch.setattr(launch, "choose_engine", lambda setting: FakeDocker(DOCKER_RUNTIMES))
    monkeypatch.setattr(launch, "_prepare_cold", lambda *a: pytest.fail("nothing may be prepared"))
    monkeypatch.setattr(launch, "run_session", lambda *a, **k: pytest.fail("no sandbox may start"))
    assert cli.main(["--json", "exec", "--project", str(project), "--", "true"]) == EXIT_ENGINE_UNAVAILABLE
    document = json.loads(capsys.readouterr().out)
    assert "security.runtime is runsc (gVisor), but docker has no runsc runtime registered" in document["error"]
    assert "aishell-run bootstrap --engine docker --gvisor" in document["hint"]


def test_plan_shows_the_runtime_auto_chose(tmp_path, monkeypatch, capsys):
    project = project_asking_for(tmp_path, "auto")
    monkeypatch.setattr(launch, "choose_engine", lambda setting: FakeDocker(DOCKER_WITH_RUNSC))
    assert cli.main(["plan", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert "runsc (gVisor" in out and "--runtime runsc" in out


def test_check_names_a_missing_runsc_as_a_problem_only_where_the_settings_want_it(tmp_path, monkeypatch):
    engine = FakeDocker(DOCKER_RUNTIMES)
    missing = check._gvisor_finding(engine, "runsc")
    assert not missing.ok and missing.detail == "not registered; security.runtime here: runsc"
    assert missing.fix.startswith("sudo aishell-run bootstrap --engine docker --gvisor")
    assert check._gvisor_finding(engine, "runc").ok
    assert check._gvisor_finding(FakeDocker(DOCKER_WITH_RUNSC), "auto").detail.startswith("registered")


def test_a_pids_limit_gvisor_cannot_start_under_is_refused_with_the_setting_and_the_fix():
    # Measured (docs/security.md): under runsc a limit of 64 started no sandbox, 96 did; runc is not limited so.
    for runtime, pids in (("runsc", 96), ("runsc", None), ("runc", 16)):
        runtimes.check_limits(runtime, pids)
    with pytest.raises(AishellError) as caught:
        runtimes.check_limits("runsc", 64)
    error = caught.value
    assert error.exit_code == 2
    assert error.message.startswith("resources.pids is 64, but a sandbox under gVisor (security.runtime) needs at "
                                    "least 96") and error.message.endswith("nothing was started")
    assert "resources.pids to 96 or more" in error.hint and "security.runtime: runc" in error.hint


def test_podman_looks_for_the_runsc_wrapper_where_the_role_puts_it():
    from aishell_runner.engines.podman import GVISOR_WRAPPER
    from aishell_runner.paths import install_root

    role_vars = (install_root() / "roles/container_runtime/vars/main.yml").read_text()
    assert f"__container_runtime_gvisor_wrapper: {GVISOR_WRAPPER}\n" in role_vars
