"""Project settings: three YAML layers (system, user, project) merged and validated into one `Settings`.

Layers, nearest wins: /etc/aishell/config.yaml, $XDG_CONFIG_HOME/aishell/config.yaml (default
~/.config/aishell/config.yaml) and <project>/.aishell/config.yaml. Any of them may be missing. Maps merge
recursively, lists concatenate (system first), and for scalars the nearer layer wins.

aishell's keys and forms (docker_args, harness_args, detection, env as a map, ...) are translated into
native keys as each layer is read (aishell_forms.py), and ~/.aishell/config.yaml is the user layer when
the XDG one is absent.

Every problem is a `SettingsError` that names the file, the line and the key path, because a settings file
is written by hand and the person fixing it needs to know exactly where to look.

The package, each module importing only those above it:

  model.py          the built Settings' records (NamedTuples), SettingsError, key paths in messages
  checks.py         each value's pattern and check (versions, memory, ports, env names, hosts, subnets),
                    written once: the schema publishes the patterns, its errors and the build use the checks
  schema.py         the JSON schema and DEFAULTS, the one source of docs/config.schema.json
                    (`python -m aishell_runner.settings` prints it; a test keeps the two equal)
  aishell_forms.py  aishell's keys and forms translated into native ones
  explain.py        schema violations explained in words
  layers.py         one file read as a layer: YAML with line numbers; where the files are
  merge.py          the layers merged, each value remembering its file and line
  build.py          the merged layers built into Settings (paths expanded, mounts checked)
  locks.py          the system layer's `locks:`
  load.py           load_settings: all of the above, for a project
  files.py          where the layers' files are (no YAML)
  cache.py          built settings remembered between launches, keyed by all that building them read
  origins.py        where each effective setting comes from (`aishell-run settings`)

None of them imports aishell_runner.images: the default agent versions that locks compare against come
from aishell_runner.image_defaults, passed in by load.py.
"""

import importlib

# Each name and the module that holds it: imported when first asked for, so that a launch whose settings come
# from the cache (cache.py) never imports the YAML parser, the schema or the builder.
_HOMES = {
    **dict.fromkeys(("AGENTS", "HARNESSES", "REGISTRY"), "aishell_runner.agents"),
    "security_settings": "aishell_runner.settings.build",
    **dict.fromkeys(("AISHELL_USER_CONFIG", "DEFAULT_DOCKERFILE", "PROJECT_CONFIG", "SYSTEM_CONFIG",
                     "default_user_file"), "aishell_runner.settings.files"),
    "load_settings": "aishell_runner.settings.load",
    **dict.fromkeys(("AgentSettings", "Credential", "EnvVar", "ImageSettings", "Key", "KeyPath", "Mount",
                     "NetworkSettings", "Resources", "ScanRule", "ScanSettings", "SecuritySettings", "Settings",
                     "SettingsError", "WorktreeSettings"), "aishell_runner.settings.model"),
    **dict.fromkeys(("_KEY_PATHS", "DEFAULTS", "SCHEMA", "default", "schema_json"), "aishell_runner.settings.schema"),
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
