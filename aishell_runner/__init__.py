"""aishell-run: AI coding agents in hardened, throw-away sandboxes on Docker or Podman."""

# The one place the version is written (pyproject.toml reads it from here);
# a constant, because looking it up in the installed metadata costs 50 ms at
# every start.
__version__ = "0.1.0"
