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

  model.py          the built Settings' frozen dataclasses, SettingsError, key paths in messages
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
  origins.py        where each effective setting comes from (`aishell-run settings`)

None of them imports aishell_runner.images: the default agent versions that locks compare against come
from aishell_runner.image_defaults, passed in by load.py.
"""

from aishell_runner.agents import AGENTS, HARNESSES, REGISTRY
from aishell_runner.settings.build import security_settings
from aishell_runner.settings.layers import (
    AISHELL_USER_CONFIG,
    DEFAULT_DOCKERFILE,
    PROJECT_CONFIG,
    SYSTEM_CONFIG,
    default_user_file,
)
from aishell_runner.settings.load import load_settings
from aishell_runner.settings.model import (
    AgentSettings,
    Credential,
    EnvVar,
    ImageSettings,
    Key,
    KeyPath,
    Mount,
    NetworkSettings,
    Resources,
    ScanRule,
    ScanSettings,
    SecuritySettings,
    Settings,
    SettingsError,
    WorktreeSettings,
)
from aishell_runner.settings.schema import _KEY_PATHS, DEFAULTS, SCHEMA, default, schema_json

__all__ = [
    "AGENTS", "AISHELL_USER_CONFIG", "DEFAULTS", "DEFAULT_DOCKERFILE", "HARNESSES", "PROJECT_CONFIG", "REGISTRY",
    "SCHEMA", "SYSTEM_CONFIG", "_KEY_PATHS", "AgentSettings", "Credential", "EnvVar", "ImageSettings", "Key",
    "KeyPath", "Mount", "NetworkSettings", "Resources", "ScanRule", "ScanSettings", "SecuritySettings", "Settings",
    "SettingsError", "WorktreeSettings", "default", "default_user_file", "load_settings", "schema_json",
    "security_settings",
]
