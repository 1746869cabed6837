"""One module per subcommand; each exposes `register(subparsers)` and `run(args, ui) -> int`."""

from . import bootstrap, build, check, launch, sessions

COMMANDS = [bootstrap, build, launch, sessions, check]
