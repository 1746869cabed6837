"""What run_playbook collects from ansible-runner's events, fed with events as ansible-runner 2.4 emits them
(recorded from ansible-core 2.19, trimmed to the keys that matter)."""

import pytest

from aishell_runner.playbook import EventCollector, failure_message, is_argument_spec_failure

PID = 22760  # ansible-playbook's pid: every event carries it
PLAY = {"playbook": "/repo/playbooks/bootstrap.yml", "play": "Bootstrap container engines", "play_pattern": "all"}


def task_start(name: str) -> dict:
    return {"event": "playbook_on_task_start", "pid": PID,
            "event_data": {**PLAY, "task": name, "name": name, "task_action": "ansible.builtin.command"}}


def runner(kind: str, host: str, task: str, res: dict, ignore_errors: bool | None = None) -> dict:
    return {"event": kind, "pid": PID,
            "event_data": {**PLAY, "task": task, "host": host, "remote_addr": host, "res": res,
                           "ignore_errors": ignore_errors, "event_loop": None}}


COMMAND_FAILED = {
    "changed": False, "cmd": ["apt-get", "install", "-y", "podman"], "rc": 100, "msg": "non-zero return code",
    "stdout": "Reading package lists...", "stderr": "W: some warning\nE: Unable to locate package podman",
    "stderr_lines": ["W: some warning", "E: Unable to locate package podman"], "_ansible_no_log": False,
}
LOOP_FAILED = {
    "changed": True, "msg": "One or more items failed",
    "results": [
        {"changed": False, "rc": 0, "item": "alice", "ansible_loop_var": "item", "_ansible_item_label": "alice"},
        {"changed": True, "failed": True, "rc": 3, "msg": "non-zero return code", "stderr": "no subuid range",
         "item": "bob", "ansible_loop_var": "item", "_ansible_item_label": "bob"},
    ],
}
UNREACHABLE = {
    "unreachable": True, "changed": False,
    "msg": "Task failed: Failed to connect to the host via ssh: ssh: connect to host 192.0.2.1 port 22: "
           "Connection refused",
}
ARG_SPEC_FAILED = {
    "failed": True, "changed": False, "validate_args_context": {"argument_spec_name": "main"},
    "msg": "Validation of arguments failed:\nvalue of container_runtime_engine must be one of: auto, docker, podman,"
           " got: dockr",
}
REPORT = {"localhost": {"engines": {"docker": {"version": "20.10.24", "service": "no-init", "verified": True}},
                        "rootless_users": {}}}
STATS = {
    "event": "playbook_on_stats", "pid": PID,
    "event_data": {
        "playbook": PLAY["playbook"],
        "changed": {"localhost": 3}, "dark": {"ghost": 1}, "failures": {"web1": 1}, "ignored": {"localhost": 1},
        "ok": {"localhost": 41, "web1": 7, "ghost": 2}, "processed": {"localhost": 1, "web1": 1, "ghost": 1},
        "rescued": {}, "skipped": {"localhost": 12},
        # ansible-runner: stats.custom["_run"], i.e. what set_stats published with per_host: false
        "artifact_data": {"aishell_bootstrap": REPORT},
    },
}


def replay(events: list[dict], on_task=None) -> EventCollector:
    collector = EventCollector(on_task)
    for event in events:
        assert collector(event) is True  # anything else makes ansible-runner drop the event
    return collector


def test_the_tasks_that_run_are_named_and_the_skipped_ones_not():
    seen: list[str] = []
    replay([
        {"event": "playbook_on_start", "pid": PID, "event_data": {"playbook": PLAY["playbook"]}},
        {"event": "playbook_on_play_start", "pid": PID, "event_data": {**PLAY, "name": PLAY["play"]}},
        task_start("Gathering Facts"),
        runner("runner_on_start", "localhost", "Gathering Facts", {}),
        runner("runner_on_ok", "localhost", "Gathering Facts", {"changed": False}),
        task_start("Stop when the engine does not answer"),
        runner("runner_on_start", "localhost", "Stop when the engine does not answer", {}),
        runner("runner_on_skipped", "localhost", "Stop when the engine does not answer", {}),
        task_start("Add the users to the docker group"),
        runner("runner_item_on_skipped", "localhost", "Add the users to the docker group", {}),
        runner("runner_item_on_ok", "localhost", "Add the users to the docker group", {}),
        runner("runner_on_ok", "localhost", "Add the users to the docker group", {}),
        {"event": "playbook_on_task_start", "pid": PID,
         "event_data": {**PLAY, "task": "Validating arguments against arg spec 'main' - Install an engine",
                        "task_action": "ansible.builtin.validate_argument_spec"}},
        runner("runner_on_ok", "localhost", "Validating arguments against arg spec 'main' - Install an engine", {}),
        task_start("Install the engine's packages with apt"),
        runner("runner_on_failed", "localhost", "Install the engine's packages with apt", COMMAND_FAILED),
    ], on_task=seen.append)
    assert seen == ["Gathering Facts", "Add the users to the docker group", "Install the engine's packages with apt"]


def test_a_task_running_long_without_a_result_is_named_while_it_runs_and_once():
    now = [100.0]
    seen: list[str] = []
    collector = EventCollector(seen.append, clock=lambda: now[0])
    collector(task_start("Build the foundation image"))
    collector(runner("runner_on_start", "localhost", "Build the foundation image", {}))
    now[0] += 0.2
    collector.show_a_long_task()
    assert seen == []  # it may still turn out skipped
    now[0] += 0.4
    collector.show_a_long_task()
    assert seen == ["Build the foundation image"]
    collector(runner("runner_on_ok", "localhost", "Build the foundation image", {"changed": True}))
    collector.show_a_long_task()
    assert seen == ["Build the foundation image"]


def test_custom_stats_come_from_artifact_data_of_the_stats_event():
    assert replay([STATS]).custom_stats == {"aishell_bootstrap": REPORT}


def test_changed_and_ok_counts_list_every_processed_host():
    collector = replay([STATS])
    assert collector.changed == {"ghost": 0, "localhost": 3, "web1": 0}
    assert collector.ok_tasks == {"ghost": 2, "localhost": 41, "web1": 7}


def test_ignored_failures_are_not_failures():
    collector = replay([runner("runner_on_failed", "localhost", "Probe", COMMAND_FAILED, ignore_errors=True)])
    assert collector.failures == []


def test_failure_names_host_and_task_and_explains_a_generic_message_with_stderr():
    [failure] = replay([runner("runner_on_failed", "web1", "Install packages", COMMAND_FAILED)]).failures
    assert (failure.host, failure.task, failure.unreachable) == ("web1", "Install packages", False)
    assert failure.message == "non-zero return code: E: Unable to locate package podman"


def test_unreachable_host_is_a_failure():
    [failure] = replay([runner("runner_on_unreachable", "ghost", "Gathering Facts", UNREACHABLE)]).failures
    assert failure.unreachable and failure.host == "ghost"
    assert "Connection refused" in failure.message


def test_loop_failure_names_the_failed_item():
    assert failure_message(LOOP_FAILED) == "bob: non-zero return code: no subuid range"


@pytest.mark.parametrize(
    ("res", "expected"),
    [
        ({"msg": "bob does not exist"}, "bob does not exist"),
        ({"stderr": "  only stderr\n"}, "only stderr"),
        ({"stdout": "only stdout"}, "only stdout"),
        ({"msg": "MODULE FAILURE\nSee stdout/stderr for the exact error", "module_stderr": "Traceback...\nOSError: x"},
         "MODULE FAILURE: OSError: x"),
        ({}, "no message from Ansible"),
    ],
)
def test_failure_message_prefers_msg_then_output(res, expected):
    assert failure_message(res) == expected


def test_ansible_pid_is_taken_from_the_events():
    assert replay([task_start("Gathering Facts")]).ansible_pid == PID


def test_argument_spec_failure_is_recognised_by_task_name_or_message():
    task = "Validating arguments against arg spec 'main' - Install, configure and verify a container engine."
    assert is_argument_spec_failure(task, ARG_SPEC_FAILED["msg"])
    assert is_argument_spec_failure("Check inputs", "the argument spec refused container_runtime_engine")
    assert not is_argument_spec_failure("Install packages", "non-zero return code")


def test_argument_spec_failure_event_marks_the_failure_as_a_usage_error():
    task = "Validating arguments against arg spec 'main' - Install, configure and verify a container engine."
    [failure] = replay([runner("runner_on_failed", "localhost", task, ARG_SPEC_FAILED)]).failures
    assert failure.is_argument_error
    assert "container_runtime_engine" in failure.message
