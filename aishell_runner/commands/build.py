"""`aishell-run build`: build the sandbox images, only what changed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from .. import images
from ..agents import AGENTS
from ..engines import choose_engine
from ..engines.base import Engine
from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, AishellError
from ..playbook import run_playbook
from ..project import find_project
from ..settings import Settings, load_settings
from ..ui import UI

NAME = "build"
EPILOG = """examples:
  aishell-run build                               # foundation (+ .aishell/Dockerfile), only if changed
  aishell-run build --base-source debootstrap     # no container registry needed
  aishell-run build --agent claude=2.1.332 --agent codex=   # pin Claude Code, leave Codex out
  aishell-run build --force --json

It reads the same settings as a launch (/etc/aishell, your user layer and the
project's .aishell/config.yaml: engine, image.*, agents.*.version), so the next
launch finds its images current; the flags override the settings. A project's
`.aishell/Dockerfile` (starting FROM localhost/aishell-foundation:latest)
becomes the project's image. Content hashes of every input are kept as image
labels: when nothing changed, nothing is built and no Ansible is started."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="build the sandbox images (foundation and project), only what changed",
        description="Build the foundation image and the project's image, rebuilding only what changed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("project", nargs="?", help="project directory, used as given (default: the git work tree "
                                                   "holding the current directory, or the current directory)")
    parser.add_argument("--engine", choices=["docker", "podman"],
                        help="default: the settings' engine (auto: docker when it answers, else podman)")
    parser.add_argument("--base-source", choices=["registry", "debootstrap"], help="where the Debian base comes from")
    parser.add_argument("--no-fallback", action="store_true",
                        help="fail instead of building the base locally when the registry cannot be reached")
    parser.add_argument("--ca-bundle", metavar="auto|none|PATH", help="CA bundle to trust inside (default: auto)")
    parser.add_argument("--agent", action="append", default=[], metavar="NAME=VERSION",
                        help=f"pin an agent CLI ({', '.join(AGENTS)}); an empty VERSION leaves it out")
    parser.add_argument("--force", action="store_true", help="rebuild even when nothing changed")


def run(args: argparse.Namespace, ui: UI) -> int:
    project = find_project(args.project)
    chosen = load_settings(project)
    wanted = overrides(args, chosen, project)  # bad flags are refused before the engine is asked anything
    engine = choose_engine(args.engine or chosen.engine)
    settings = images.settings_with({**wanted, "sandbox_image_engine": engine.name})
    started = time.perf_counter()
    freshness = images.check(engine, settings)
    if freshness.all_current and not args.force:
        return _finish(ui, engine, settings, built=[], seconds=time.perf_counter() - started)
    extravars = images.playbook_vars(settings)
    with ui.progress("Building sandbox images") as show_task:
        result = run_playbook("sandbox_image.yml", extravars, on_task=show_task)
    if not result.ok:
        first = result.final_failure
        message = first.message if first else f"the build ended with status {result.status}"
        raise AishellError(message, hint=f"Ansible's log: {result.log}",
                           exit_code=EXIT_USAGE if first and first.is_argument_error else EXIT_FAILURE)
    report = (result.custom_stats.get("aishell_images") or {}).get("localhost", {})
    built = [name for name, info in report.items() if info.get("built")]
    return _finish(ui, engine, settings, built=built, seconds=time.perf_counter() - started)


def overrides(args: argparse.Namespace, chosen: Settings, project: Path) -> dict[str, Any]:
    """The image role's variables: what the settings choose for a launch of `project`, then the flags."""
    result: dict[str, Any] = {**images.overrides_for(chosen, project), "sandbox_image_force": args.force}
    if args.base_source:
        result["sandbox_image_base_source"] = args.base_source
    if args.no_fallback:
        result["sandbox_image_base_fallback"] = False
    if args.ca_bundle:
        images.ca_bundle_path(args.ca_bundle)  # a missing file is refused here, before any build
        result["sandbox_image_ca_bundle"] = args.ca_bundle
    for pin in args.agent:
        name, sep, version = pin.partition("=")
        if not sep or name not in AGENTS:
            raise AishellError(f"--agent {pin!r} is not NAME=VERSION with NAME one of {', '.join(AGENTS)}",
                               hint="for example --agent claude=2.1.332, or --agent gemini= to leave it out",
                               exit_code=EXIT_USAGE)
        result["sandbox_image_agents"] = {**result["sandbox_image_agents"], name: version}
    return result


def _finish(ui: UI, engine: Engine, settings: dict[str, Any], *, built: list[str], seconds: float) -> int:
    wanted = images.wanted_images(settings, images.foundation_hash(settings)).values()
    rows = [{"name": image.name, "image": image.image, "built": image.name in built,
             **images.image_facts(engine, image.image)} for image in wanted]
    fell_back = settings["sandbox_image_base_source"] == "registry" and rows[0]["base"] == "debootstrap"
    if ui.json_mode:
        ui.emit_json({"ok": True, "engine": engine.name, "images": rows, "seconds": round(seconds, 3),
                      "fell_back_to_offline_base": fell_back})
        return EXIT_OK
    if fell_back:
        ui.err.print("[yellow]note:[/] the registry could not be reached: the foundation is built on a Debian "
                     "base made locally with debootstrap (--base-source debootstrap says so up front).")
    table = Table(title=f"Sandbox images ({engine.name})")
    for column in ("image", "this run", "base", "size"):
        table.add_column(column)
    for row in rows:
        size = f"{row['size_bytes'] / 1e6:.0f} MB" if row["size_bytes"] else "?"
        table.add_row(row["image"], "built" if row["built"] else "up to date", row["base"] or "-", size)
    ui.out.print(table)
    return EXIT_OK
