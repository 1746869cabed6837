"""A launch plan -> the engine options of its sandbox: the one place that makes a sandbox's command line.

The role's template writes these options into the launch spec (PLAN-HASH.json); `aishell-run plan` loads this
same file to print them (aishell_runner/paths.py role_plugin), so what is shown is what runs. The plan is
structured data (aishell_runner/plan.py LaunchPlan.role_input): image, user, mounts, environment names,
limits, security, network. What belongs to one session (its name, a terminal, how secrets are passed, the
command) is added by the session (aishell_runner/session.py).
"""

from __future__ import annotations

from typing import Any

# The parts of a plan the options are made from; a plan without one cannot be rendered.
PLAN_KEYS = ("engine", "project", "uid", "gid", "home", "keep_id", "limits", "labels", "mounts", "hidden_files",
             "hidden_dirs", "empty_file", "passwd_dir", "ports", "resources", "security", "network")


class PlanError(ValueError):
    """A plan this role cannot render."""


def launch_options(plan: dict[str, Any]) -> list[str]:
    """The options of `ENGINE run` for a sandbox of `plan`, without the environment, the image and the command."""
    missing = [key for key in PLAN_KEYS if key not in plan]
    if missing:
        raise PlanError(f"the launch plan has no {', '.join(missing)}: it was made by another version of "
                        "aishell-run than this role's; install aishell-run and its roles from one release")
    options = ["--rm", "--interactive", "--init", "--hostname", "aishell"]
    for key, value in sorted(plan["labels"].items()):
        options += ["--label", f"{key}={value}"]
    options += _identity(plan)
    options += _security(plan["security"])
    options += _runtime(plan)
    options += _limits(plan)
    options += _network(plan)
    # A private, writable home owned by the user; the agent's profile is mounted into it.
    options += ["--tmpfs", f"{plan['home']}:rw,exec,{_tmpfs_owner(plan)},mode=0700"]
    if plan["passwd_dir"]:
        options += ["--volume", f"{plan['passwd_dir']}/passwd:/etc/passwd:ro",
                    "--volume", f"{plan['passwd_dir']}/group:/etc/group:ro"]
    for mount in plan["mounts"]:
        options += ["--volume", f"{mount['source']}:{mount['target']}{':ro' if mount['readonly'] else ''}"]
    # Over the project mount (engines mount shallower targets first): the agent sees these empty.
    for path in plan["hidden_files"]:
        options += ["--volume", f"{plan['empty_file']}:{path}:ro"]
    for path in plan["hidden_dirs"]:
        options += ["--tmpfs", f"{path}:ro"]
    for port in plan["ports"]:
        options += ["--publish", port]
    return [*options, "--workdir", plan["project"]]


def _identity(plan: dict[str, Any]) -> list[str]:
    # The host's UID/GID inside, so files made in the project are the user's own. Rootless Podman's keep-id
    # maps the user to the same IDs through its user namespace and writes the user's passwd entry itself.
    return [*(["--userns=keep-id"] if plan["keep_id"] else []), "--user", f"{plan['uid']}:{plan['gid']}"]


def _tmpfs_owner(plan: dict[str, Any]) -> str:
    # Podman refuses uid=/gid= on --tmpfs; its U chowns the mount to the container's user.
    return "U" if plan["engine"] == "podman" else f"uid={plan['uid']},gid={plan['gid']}"


def _security(security: dict[str, Any]) -> list[str]:
    options = ["--cap-drop", "ALL", *[f"--cap-add={cap}" for cap in security["add_capabilities"]]]
    if security["no_new_privileges"]:
        options += ["--security-opt", "no-new-privileges"]
    if security["seccomp"] == "unconfined":
        options += ["--security-opt", "seccomp=unconfined"]
    if security["read_only_root"]:
        options += ["--read-only", "--tmpfs", "/tmp:rw,exec,mode=1777", "--tmpfs", "/var/tmp:rw,exec,mode=1777"]
    return options


def _runtime(plan: dict[str, Any]) -> list[str]:
    # runc is the engine's own runtime (runc or crun): no option. runsc is gVisor's, registered under that
    # name by `aishell-run bootstrap --gvisor` (Docker's daemon.json, Podman's containers.conf drop-in).
    if plan["security"].get("runtime", "runc") != "runsc":
        return []
    options = ["--runtime", "runsc"]
    if plan["keep_id"]:
        # Rootless Podman gives runsc no cgroup it may write to (gVisor issue 7449: "configuring cgroup ...
        # permission denied"); the limits then hold as they do for runc there (rlimits, docs/security.md).
        options += ["--runtime-flag", "ignore-cgroups"]
    return options


def _limits(plan: dict[str, Any]) -> list[str]:
    resources = plan["resources"]
    if plan["limits"] == "nproc":
        # Rootless Podman on cgroup v1 ignores cgroup limits (with a warning at every launch); RLIMIT_NPROC,
        # counted per user namespace, still stops a fork bomb (docs/security.md).
        return ["--ulimit", f"nproc={resources['pids']}:{resources['pids']}"]
    return ["--cpus", str(resources["cpus"]), "--memory", str(resources["memory"]),
            "--pids-limit", str(resources["pids"])]


def _network(plan: dict[str, Any]) -> list[str]:
    network = plan["network"]
    if network["mode"] == "none":
        return ["--network", "none"]
    if network["mode"] == "open":
        return []
    # No network at all: no interface but its own loopback, no IPv6 there, and no resolver (an empty
    # resolv.conf), so DNS cannot carry data out. The proxy is reached through the gate's socket, in its
    # directory mounted read-only (aishell_runner/egress.py).
    options = ["--network", "none", "--volume", f"{plan['empty_file']}:/etc/resolv.conf:ro",
               "--sysctl", "net.ipv6.conf.all.disable_ipv6=1", "--volume", f"{network['gate']}:/run/aishell-gate:ro"]
    if network.get("trust_bundle"):
        # The image's trust store with the credential broker's CA (the role wrote it), over the image's own.
        options += ["--volume", f"{network['trust_bundle']}:/etc/ssl/certs/ca-certificates.crt:ro"]
    return options


def _launch_options_filter(plan: dict[str, Any]) -> list[str]:
    try:
        return launch_options(plan)
    except PlanError as error:
        from ansible.errors import AnsibleFilterError  # here: the CLI loads this file without Ansible

        raise AnsibleFilterError(str(error)) from None


class FilterModule:
    def filters(self):
        return {"aishell_launch_options": _launch_options_filter}
