"""One module per subcommand; each exposes `register(subparsers)` and `run(args, ui) -> int`."""

from . import bootstrap, build, launch

COMMANDS = [bootstrap, build, launch]
