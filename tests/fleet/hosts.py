"""Fleet test hosts: containers on this machine that run sshd on a Docker bridge of their own.

Each host is a Debian 12 container (Dockerfile.host) reached by Ansible over real SSH with a key made
for the run, at its address on the bridge; nothing leaves this machine. The containers get what the
engines inside need (the same settings as the Molecule scenarios): every capability but SYS_RESOURCE,
no seccomp/AppArmor filter, unmasked /proc (rootful Podman's runc), /dev/net/tun (rootless networking),
the host's cgroups, tmpfs for engine storage and homes (overlay on overlay is refused), and this
machine's CA bundle.
Used by tests/integration/test_fleet.py and bench/fleet.py.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
IMAGE = "localhost/aishell-fleet-host:bookworm"
BASE_IMAGE = "localhost/aishell-test-host:bookworm"
PREFIX = "aishell-fleet"
CAPS_BUT_SYS_RESOURCE = ["--cap-add=ALL", "--cap-drop=SYS_RESOURCE"]
RUN_OPTIONS = [
    *CAPS_BUT_SYS_RESOURCE,
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device", "/dev/net/tun",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/var/lib/docker:rw,exec,size=2g",
    "--tmpfs", "/var/lib/containers:rw,exec,size=2g",
    "--tmpfs", "/home:rw,exec,size=2g",
]
# The hosts trust what this machine trusts (its TLS-intercepting proxy included), as machines that
# one IT department manages do: the image pre-build downloads Node.js and the agents through it.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
if CA_BUNDLE.is_file():
    RUN_OPTIONS += ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
SSH_OPTIONS = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 "
               "-o ServerAliveInterval=2 -o ServerAliveCountMax=3 -o LogLevel=ERROR")


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def build_image() -> None:
    """Build the host image from the project's files (a no-op when Docker's layer cache has it)."""
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode:
        raise RuntimeError(f"{BASE_IMAGE} is missing: tests/provision.yml builds it (make provision-test)")
    docker("build", "-q", "-t", IMAGE, "-f", str(HERE / "Dockerfile.host"), str(HERE))


@dataclass
class Host:
    name: str  # inventory name and container name
    group: str
    address: str = ""

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return docker("exec", self.name, "sh", "-c", command, check=check)

    def stop_sshd(self) -> None:
        """Unreachable: sshd and every session it serves end (the container, its engine and files stay)."""
        self.sh("pkill -x sshd")

    def start_sshd(self) -> None:
        self.sh("/usr/sbin/sshd")


@dataclass
class Fleet:
    hosts: list[Host]
    inventory: Path
    key: Path

    def host(self, name: str) -> Host:
        return next(host for host in self.hosts if host.name == name)

    def ssh(self, host: Host, command: str, user: str = "root", stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", *SSH_OPTIONS.split(), "-i", str(self.key), f"{user}@{host.address}", command],
                              capture_output=True, text=True, input=stdin)


def write_inventory(path: Path, hosts: list[Host], key: Path, group_vars: dict[str, dict],
                    host_vars: dict[str, dict] | None = None) -> None:
    """An inventory shaped like inventories/example-team: groups, per-group and per-host variables."""
    groups: dict[str, dict] = {}
    for host in hosts:
        variables = {"ansible_host": host.address, **(host_vars or {}).get(host.name, {})}
        groups.setdefault(host.group, {"hosts": {}})["hosts"][host.name] = variables
    for group, variables in group_vars.items():
        if group != "all":
            groups.setdefault(group, {"hosts": {}})["vars"] = variables
    connection = {"ansible_user": "root", "ansible_ssh_private_key_file": str(key),
                  "ansible_ssh_common_args": SSH_OPTIONS, "ansible_python_interpreter": "/usr/bin/python3"}
    document = {"all": {"vars": {**connection, **group_vars.get("all", {})}, "children": groups}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@contextmanager
def fleet(workdir: Path, groups: dict[str, int], group_vars: dict[str, dict]) -> Iterator[Fleet]:
    """Start hosts (`groups`: group name -> number of hosts) and remove them, and their bridge, afterwards."""
    build_image()
    run = f"{PREFIX}-{uuid.uuid4().hex[:6]}"
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (workdir / "authorized_keys").write_text((workdir / "id_ed25519.pub").read_text())
    (workdir / "authorized_keys").chmod(0o644)
    hosts = [Host(f"{run}-{group.replace('_', '-')}-{index}", group)
             for group, count in groups.items() for index in range(1, count + 1)]
    docker("network", "create", run)
    try:
        for host in hosts:
            docker("run", "-d", "--name", host.name, "--hostname", host.name, "--network", run,
                   "--label", f"org.aishell.fleet-test={run}", *RUN_OPTIONS,
                   "-v", f"{workdir / 'authorized_keys'}:/root/.ssh/authorized_keys:ro", IMAGE)
        for host in hosts:
            networks = json.loads(docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", host.name).stdout)
            host.address = networks[run]["IPAddress"]
        inventory = workdir / "hosts.yml"
        write_inventory(inventory, hosts, key, group_vars)
        result = Fleet(hosts, inventory, key)
        _wait_for_ssh(result)
        yield result
    finally:
        # Unchecked: a host whose `docker run` failed above has nothing to remove.
        for host in hosts:
            docker("rm", "-f", "-v", host.name, check=False)
        docker("network", "rm", run, check=False)


def _wait_for_ssh(fleet: Fleet, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for host in fleet.hosts:
        while fleet.ssh(host, "true").returncode:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host.name} ({host.address}) does not answer over SSH")
            time.sleep(0.5)
