"""An agent the settings leave out of the image is refused before anything starts, with the key to change."""

import pytest

from aishell_runner import images
from aishell_runner.commands.launch import require_agent_in_image
from aishell_runner.errors import EXIT_USAGE, AishellError


def test_an_agent_left_out_of_the_image_is_named_with_its_setting():
    wanted = images.settings_with({"sandbox_image_agents": {"claude": "2.1.332", "codex": ""}})
    require_agent_in_image("claude", wanted)
    with pytest.raises(AishellError) as caught:
        require_agent_in_image("codex", wanted)
    assert caught.value.exit_code == EXIT_USAGE
    assert "Codex CLI is not in the sandbox image" in caught.value.message
    assert "agents.codex.version" in caught.value.message and "agents: {codex: {version: latest}}" in caught.value.hint
