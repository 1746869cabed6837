"""`aishell-run claude|codex|gemini|opencode|shell`, `exec -- CMD` and `plan`: sandboxes for this project.

The path of one launch: settings -> plan -> (cold only) the sandbox_launch
playbook -> the session. When the plan's hash and the images are unchanged
since the last successful launch, no ansible-playbook process is started.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from .. import audit, credentials, egress, host_run_files, images, owner, platforms, profiles
from ..agents import REGISTRY
from ..background import in_background
from ..cache_files import save
from ..commands import wanted
from ..engines import choose_engine, engine_answers, runtimes, unavailable
from ..engines.base import Engine
from ..errors import EXIT_FAILURE, EXIT_USAGE, AishellError
from ..paths import state_dir
from ..plan import LaunchPlan, git_facts, make_plan, session_name
from ..project import find_project
from ..scan.exclude import excluded_paths
from ..scan.policy import ScanRoot, review
from ..session import client_env, run_session, session_argv, session_command
from ..settings import Settings, SettingsError, load_settings
from ..ui import UI

# What `docker run` and `podman run` answer when the engine itself failed (not the command).
ENGINE_FAILED = 125


def register(subparsers: argparse._SubParsersAction) -> None:
    for agent, spec in REGISTRY.items():
        if not wanted(subparsers, agent):
            continue
        what = spec.title
        parser = subparsers.add_parser(
            agent,
            help=f"open {what} in a sandbox on this project",
            description=f"Open {what} in an interactive, throw-away sandbox with this project mounted at its path.",
            epilog=f"example:\n  cd ~/src/myproject && aishell-run {agent}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(parser)
        _scan_options(parser)
        parser.set_defaults(harness=agent, command_argv=None, interactive=True, handler=run)
    if wanted(subparsers, "exec"):
        _register_exec(subparsers)
    if wanted(subparsers, "plan"):
        _register_plan(subparsers)


def _register_exec(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "exec",
        help="run one command in a sandbox, non-interactively; its exit status is returned",
        description="Run one command in a throw-away sandbox on this project. Pipes work; the exit status is the "
                    "command's own.",
        epilog="examples:\n  aishell-run exec -- make test\n  git diff | aishell-run exec -- claude -p 'review this'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser)
    _scan_options(parser)
    parser.add_argument("command_argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the command to run")
    parser.set_defaults(harness=None, interactive=False, handler=run)


def _register_plan(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="print exactly what a launch would run, without running it",
        description="Print the launch plan: engine, image, command line, mounts, environment names, limits.",
        epilog="example:\n  aishell-run plan --json | jq .argv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser)
    parser.set_defaults(harness=None, command_argv=None, interactive=True, handler=show_plan)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", help="project directory, used as given (default: the git work tree holding "
                                           "the current directory, or the current directory)")
    parser.add_argument("--allow-risky-mounts", action="store_true",
                        help="allow mounts that expose the host (/, $HOME, /etc, ~/.ssh, an engine socket)")


def _scan_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accept-findings", action="store_true",
                        help="launch even when the scan finds sensitive files (the decision is logged); "
                             "without it a non-interactive launch with high findings exits with status 3")
    parser.add_argument("--branch", metavar="NAME",
                        help="work on agent branch NAME: its own git worktree (made on first use, resumed after), "
                             "so the main tree's work is untouched; `aishell-run branches` lists them")
    parser.add_argument("--from", dest="base", metavar="REF",
                        help="what a new --branch starts from (default: HEAD)")


class Prepared(NamedTuple):
    """A launch's plan and everything needed to make it ready: images, and the proxy in allowlist mode."""

    engine: Engine
    plan: LaunchPlan
    image_settings: dict
    foundation_hash: str  # the wanted foundation's inputs, computed once (it reads the CA bundle)
    state: Path
    egress: egress.Names | None
    egress_vars: dict  # the cold playbook's variables for the proxy
    autonomous: bool  # the agent in its no-approval mode (settings: agents.<name>.autonomous)
    # Behind the proxy: the credentials the broker swaps in (credentials.py), and the agent's upstream.
    credentials: dict
    upstream: str | None
    runtime_setting: str  # security.runtime as the settings say (the plan holds the resolved one)

    @property
    def egress_hash(self) -> str:
        return str(self.egress_vars.get("egress_proxy_config_hash", ""))


def _network(settings: Settings, harness: str, engine: Engine, image_settings: dict,
             image: str) -> tuple[dict, egress.Names | None, dict]:
    """The plan's network part, and in allowlist mode the proxy's names and role variables."""
    network = settings.network
    if network.mode != "allowlist":
        return {"mode": network.mode}, None, {}
    if settings.ports:
        raise SettingsError("ports cannot be published from an allowlist sandbox (it has no way in or out but "
                            "the proxy)", "set network.mode: open in the settings that publish ports",
                            key="ports")
    names = egress.names_for(os.getuid())
    proxy_inputs = images.egress_hash(image_settings)
    wanted = egress.config_hash(proxy_inputs, names, network.internal_hosts)
    # The hosts of the credentials the settings declare, when this machine has them: what they are for.
    declared = tuple(host for credential in settings.credentials if os.environ.get(credential.variable)
                     for host in credential.hosts)
    hosts = egress.allowlist(harness, (*network.allow, *declared), network.registries)
    proxy_image = images.own_tag(image_settings, "egress", proxy_inputs)
    role_vars = egress.role_vars(engine.name, names, wanted, network.internal_hosts, proxy_image)
    # The image's trust store with the broker's CA beside it (the sandbox_launch role writes it), over the
    # image's own: every TLS client inside trusts the broker for the hosts it takes.
    public = names.broker_dir / "public"
    trust = public / f"trust-{hashlib.sha256(image.encode()).hexdigest()[:12]}.crt"
    return ({"mode": "allowlist", "gate": str(names.gate_dir), "allow": hosts, "trust_bundle": str(trust),
             "broker_ca": str(public / "ca.crt")}, names, role_vars)


def require_agent_in_image(agent: str, image_settings: dict) -> None:
    """An agent the settings leave out of the image (an empty version) cannot be opened: say so before any
    sandbox starts, rather than let its shell answer "not found"."""
    if image_settings["sandbox_image_agents"].get(agent) == "":
        title = REGISTRY[agent].title
        raise AishellError(f"{title} is not in the sandbox image: the settings give agents.{agent}.version as \"\"",
                           hint=f"remove that line or give a version (agents: {{{agent}: {{version: latest}}}}) in "
                                ".aishell/config.yaml or ~/.config/aishell/config.yaml; the next launch builds it",
                           exit_code=EXIT_USAGE)


def _require_a_credential(agent: str, plan: LaunchPlan) -> None:
    """An agent opened with nothing to sign in with would stop at its login screen, or fail at its first
    request: say which variable it wants before any sandbox starts."""
    variables = REGISTRY[agent].credentials
    why = credentials.missing(agent, variables, plan.env_names, profiles.profile_dir(agent))
    if why:
        extra = f" ({REGISTRY[agent].login_hint})" if REGISTRY[agent].login_hint else ""
        raise AishellError(f"{REGISTRY[agent].title} has no credential: {why}",
                           hint=f"export {variables[0]}=...{extra} and launch again: behind the egress proxy the "
                                f"sandbox gets a placeholder, never the value. To sign in inside instead: "
                                f"`aishell-run exec -- {agent}`", exit_code=EXIT_USAGE)


def prepare(args: argparse.Namespace, ui: UI | None = None) -> Prepared:
    """Settings -> plan. With `ui`, what will be mounted is scanned first (and the user may hide files)."""
    if getattr(args, "base", None) and not args.branch:
        raise AishellError(f"--from {args.base} needs --branch NAME: it says where a new branch starts",
                           hint=f"for example: --branch try-it --from {args.base}", exit_code=EXIT_USAGE)
    project = find_project(args.project)
    settings = load_settings(project, allow_risky_mounts=args.allow_risky_mounts)
    engine = choose_engine(settings.engine)
    # macOS: refused outside the Lima VM's mounts; WSL2: warned on /mnt/<drive> (aishell_runner/platforms/).
    for warning in platforms.check_project(project, engine.name):
        if ui is not None:
            ui.err.print(f"warning: {warning}", markup=False, soft_wrap=True)
    image_settings = images.settings_with({
        **images.overrides_for(settings, project), "sandbox_image_engine": engine.name,
        # The proxy's own variables ask for its image (egress.role_vars), and warm launches do not inspect
        # it: the running proxy's label holds its inputs.
        "sandbox_image_egress": False,
    })
    harness = args.harness or settings.harness
    command = None
    if args.command_argv is not None:
        command = args.command_argv[1:] if args.command_argv[:1] == ["--"] else args.command_argv
        if not command:
            raise AishellError("exec needs a command", hint="for example: aishell-run exec -- make test",
                               exit_code=EXIT_USAGE)
    elif harness != "shell":
        require_agent_in_image(harness, image_settings)
        command = [harness, *settings.agents[harness].args]
    # The plan holds the runtime this launch uses (runc or runsc), so that registering gVisor or taking it
    # away makes the next launch cold; a runsc the engine lacks ends here, before anything starts (a
    # branch's worktree too).
    security = settings.security._replace(runtime=runtimes.resolve(settings.security.runtime, engine))
    runtimes.check_limits(security.runtime, settings.resources.pids)
    if getattr(args, "branch", None):
        # The sandbox works in the branch's worktree; the settings and images stay the project's (the
        # worktree's own .aishell/ is the agent's to write).
        project = _branch_worktree(args, project, settings, ui)
    git = in_background(git_facts, project)  # its git processes run beside the scan
    hidden = excluded_paths(project, settings.exclude)
    if ui is not None:
        roots = [ScanRoot(project, project)]
        roots += [ScanRoot(m.source, m.target) for m in settings.mounts if m.source.exists()]
        chosen = review(roots, settings, project=project, harness=harness, accept=args.accept_findings, ui=ui)
        hidden += [Path(path) for path in chosen]
    autonomous = harness in settings.agents and settings.agents[harness].autonomous
    foundation = images.foundation_hash(image_settings)
    image = images.wanted_image(image_settings, foundation)
    network, names, egress_vars = _network(settings, harness, engine, image_settings, image)
    plan = make_plan(
        engine=engine, image=image, project=project, harness=harness,
        command=command, settings_mounts=settings.mounts, settings_env=settings.env,
        resources={"cpus": settings.resources.cpus, "memory": settings.resources.memory,
                   "pids": settings.resources.pids},
        interactive=args.interactive,
        ports=settings.ports,
        pre_start=settings.pre_start,
        hidden=tuple(hidden),
        security=security,
        network=network,
        empty_file=state_dir() / "empty",
        autonomous=autonomous,
        credential_names=tuple(credential.variable for credential in settings.credentials),
        git=git(),
    )
    if ui is not None and args.command_argv is None and harness != "shell":  # a launch, not `plan`
        _require_a_credential(harness, plan)
    # One state directory per project: each plan's launch spec, and the passwd files (they name only the user).
    state = state_dir() / "launch" / plan.labels["org.aishell.project-hash"]
    if engine.uses_passwd_files():
        plan = plan._replace(passwd_dir=str(state))
    # Behind the proxy every credential passed in is brokered; in the open network there is no broker.
    behind_proxy = {name: credential for name, credential in credentials.brokered(settings.credentials).items()
                    if name in plan.env_names} if names else {}
    upstream = settings.agents[harness].upstream if harness in settings.agents else None
    if upstream and ui is not None and names:
        why = credentials.upstream_problem(upstream)
        if why:
            raise AishellError(f"agents.{harness}.upstream {upstream}: {why}",
                               hint="start the gateway, or correct or remove agents."
                                    f"{harness}.upstream (`aishell-run settings` shows which file sets it)",
                               exit_code=EXIT_USAGE)
    return Prepared(engine, plan, image_settings, foundation, state, names, egress_vars, autonomous,
                    behind_proxy, upstream, settings.security.runtime)


def _branch_worktree(args: argparse.Namespace, project: Path, settings: Settings, ui: UI | None) -> Path:
    """The worktree of --branch NAME, made or resumed (worktrees.py); it is what the sandbox mounts and scans."""
    from .. import worktrees

    tree, note = worktrees.open_branch(project, args.branch, base=args.base, agent=args.harness or "exec",
                                       include=settings.worktree.include)
    if ui is not None:
        ui.err.print(note, markup=False, soft_wrap=True)
    return tree


def run(args: argparse.Namespace, ui: UI) -> int:
    owner.reap_orphans()  # what sessions whose wrapper was killed left behind (a directory listing if none)
    ready = prepare(args, ui)
    engine, plan = ready.engine, ready.plan
    spec_file = ready.state / f"{plan.digest()[:16]}.json"  # named so by the sandbox_launch role
    spec = _read_spec(spec_file)
    spec_current = spec.get("plan_hash") == plan.digest()
    images_current, proxy_ready = _engine_ready(engine, ready) if spec_current else (False, False)
    if not (spec_current and images_current and proxy_ready):
        with _one_preparation_at_a_time():
            # Asked again under the lock: what another launch prepared meanwhile counts. With the images current
            # and the proxy running, Ansible only renders the launch spec.
            images_current, proxy_ready = _engine_ready(engine, ready)
            spec = _prepare_cold(ui, ready, spec_file, spec_only=images_current and proxy_ready)
        if spec.get("plan_hash") != plan.digest():
            raise AishellError(f"preparing the sandbox wrote no launch spec for this plan at {spec_file}",
                               hint="run the launch again; if it stays so, `aishell-run plan` shows the plan")
        if ready.egress and not egress.proxy_running(engine, ready.egress, ready.egress_hash):
            raise AishellError(f"the egress proxy {ready.egress.proxy} did not start",
                               hint=f"`{engine.name} logs {ready.egress.proxy}` and `{engine.name} logs "
                                    f"{ready.egress.broker}` say why")
    _create_empty_file(plan)
    name = session_name(Path(plan.project))
    env = client_env(plan.literal_env, plan.home)
    registration = None
    watched = host_run_files.snapshot(Path(plan.project))
    guard = None
    try:
        if ready.egress:
            swaps = credentials.open_session(ready.egress.broker_dir, name, ready.credentials, env, ready.upstream)
            env.update({swap.credential.variable: swap.placeholder for swap in swaps})
            hosts = sorted({host for swap in swaps for host in swap.credential.hosts})
            registration = egress.register(ready.egress, name, plan.network["allow"], brokered=hosts)
            env.update(egress.proxy_env(registration.token))
        # The agent's first-run answers are for what the sandbox holds: the placeholders, behind the broker.
        profiles.prepare(plan.harness, Path.home(), autonomous=ready.autonomous, project=Path(plan.project),
                         environ=env)
        env_options, receive = engine.pass_env(spec["env"], plan.secret_names, name, env)
        argv = session_argv(spec["engine"], spec["options"], env_options, spec["image"],
                            [*receive, *session_command(plan)], name=name)
        forget = [["rm", "-f", str(ready.egress.clients / registration.address),
                   str(credentials.session_file(ready.egress.broker_dir, name))]] if registration else []
        guard = owner.Guard(name, [*engine.cleanup_steps(name), *forget])
        status = run_session(engine, argv, name, env, started=guard.watch)
    finally:
        if guard is not None:
            guard.release()
        engine.forget_secrets(name)
        if registration:
            egress.unregister(ready.egress, registration.address)
        if ready.egress:
            credentials.close_session(ready.egress.broker_dir, name)
        _report_host_run_files(ui, plan, watched)
    if status == ENGINE_FAILED and not engine_answers(engine.name):
        raise unavailable(engine.name)
    if (status == ENGINE_FAILED and plan.security["runtime"] == runtimes.GVISOR
            and not runtimes.available(engine, runtimes.GVISOR, fresh=True)):
        # Known to the cache, gone from the engine since (its registration taken back): the engine's
        # refusal said only "unknown runtime"; the next launch sees the fresh answer.
        raise runtimes.missing(engine.name, ready.runtime_setting)
    return status


def _engine_ready(engine: Engine, ready: Prepared) -> tuple[bool, bool]:
    """Whether the images are current, and whether the proxy runs as wanted (or none is wanted): the engine's
    answers, side by side."""
    asked = in_background(egress.proxy_running, engine, ready.egress, ready.egress_hash) if ready.egress else None
    current = images.check(engine, ready.image_settings, ready.foundation_hash).all_current
    return current, asked() if asked else True


def _report_host_run_files(ui: UI, plan: LaunchPlan, before: dict[str, str]) -> None:
    """Name each file the session changed that a tool on the host runs by itself (host_run_files.py)."""
    project = Path(plan.project)
    changed = host_run_files.changes(before, host_run_files.snapshot(project))
    if not changed:
        return
    audit.record(project, plan.harness, "files the host runs changed in the session",
                 files=[{"path": path, "change": change} for path, change in changed.items()])
    ui.err.print("warning: the session changed files that tools on this host run or obey by themselves; "
                 "review them before they do:", markup=False, soft_wrap=True)
    for path, change in changed.items():
        ui.err.print(f"  {change}: {project / path}", markup=False, soft_wrap=True)


def _read_spec(path: Path) -> dict:
    """The launch spec the sandbox_launch role rendered for a plan; {} when there is none yet, or when it was
    damaged (a cold launch renders it again)."""
    try:
        return _whole_spec(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _whole_spec(spec: object) -> dict:
    """`spec` when it is a launch spec with all its parts, else {}."""
    return spec if isinstance(spec, dict) and {"plan_hash", "engine", "options", "env", "image"} <= spec.keys() else {}


@contextmanager
def _one_preparation_at_a_time() -> Iterator[None]:
    """Cold launches of one user take turns: side by side they would build the same images and recreate the
    user's one egress proxy together (the second `run` finding the name taken). The next in turn finds them
    ready, so its playbook changes nothing."""
    path = state_dir() / "prepare.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        yield


def _prepare_cold(ui: UI, ready: Prepared, spec_file: Path, *, spec_only: bool) -> dict:
    """The sandbox_launch playbook: images current, the proxy running, the launch spec rendered from the plan
    (the role publishes it, this stores it at `spec_file` and returns it; {} when it published none whole);
    `spec_only` when the images and the proxy are known to be as wanted."""
    plan = ready.plan
    extravars = {
        **images.playbook_vars(ready.image_settings),
        "sandbox_launch_state_dir": str(ready.state),
        "sandbox_launch_plan": plan.role_input(),
        "sandbox_launch_plan_hash": plan.digest(),
        "sandbox_launch_spec_only": spec_only,
        "sandbox_launch_publish_spec": True,
    }
    if ready.egress:
        extravars.update(ready.egress_vars)
    from ..playbook import run_playbook  # here: a warm launch starts no Ansible and need not import its runner

    with ui.progress("Preparing the sandbox") as show_task:
        result = run_playbook("sandbox_launch.yml", extravars, on_task=show_task)
    if not result.ok:
        if not engine_answers(plan.engine):
            raise unavailable(plan.engine)
        failure = result.final_failure
        raise AishellError(failure.message if failure else f"preparing the sandbox ended with {result.status}",
                           hint=f"Ansible's log: {result.log}", exit_code=EXIT_FAILURE)
    spec = _whole_spec(result.custom_stats.get("sandbox_launch_spec"))
    if spec and not save(spec_file, json.dumps(spec, indent=2).encode()):
        raise AishellError(f"cannot write the launch spec {spec_file}",
                           hint=f"make {spec_file.parent} writable by you, or remove it")
    return spec


def _create_empty_file(plan: LaunchPlan) -> None:
    """What hidden files are replaced with: empty, read-only."""
    if plan.empty_file and not Path(plan.empty_file).is_file():
        Path(plan.empty_file).parent.mkdir(parents=True, exist_ok=True)
        Path(plan.empty_file).touch(mode=0o444)


def _runtime_words(runtime: object) -> str:
    return "runsc (gVisor: the sandbox's own kernel)" if runtime == runtimes.GVISOR else "runc (the host's kernel)"


def show_plan(args: argparse.Namespace, ui: UI) -> int:
    plan = prepare(args).plan
    public = plan.public()
    if ui.json_mode:
        ui.emit_json(public)
        return 0
    from rich.table import Table  # only here: the launch path does without rich.table

    table = Table(title=f"Launch plan for {plan.project}", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("engine", plan.engine)
    table.add_row("image", plan.image)
    table.add_row("harness", plan.harness)
    table.add_row("mounts", "\n".join(f"{m['source']} -> {m['target']}{' (ro)' if m['readonly'] else ''}"
                                      for m in public["mounts"]))
    if public["hidden"]:
        table.add_row("hidden (seen empty)", "\n".join(public["hidden"]))
    table.add_row("env (names)", ", ".join(public["env"]))
    table.add_row("resources", json.dumps(public["resources"]))
    table.add_row("runtime", _runtime_words(plan.security["runtime"]))
    table.add_row("network", plan.network["mode"] + (f": {', '.join(plan.network['allow']) or 'nothing'}"
                                                      if plan.network["mode"] == "allowlist" else ""))
    table.add_row("argv", " ".join(public["argv"]))
    ui.out.print(table)
    return 0
