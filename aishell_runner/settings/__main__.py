"""`python -m aishell_runner.settings`: the schema, as published in docs/config.schema.json."""

from aishell_runner.settings.schema import schema_json

print(schema_json(), end="")
