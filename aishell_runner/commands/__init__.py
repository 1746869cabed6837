"""One module per subcommand; each exposes `register(subparsers)` and `run(args, ui) -> int`."""

from . import bootstrap, build, launch, sessions

COMMANDS = [bootstrap, build, launch, sessions]
