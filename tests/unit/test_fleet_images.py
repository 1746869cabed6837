"""fleet.yml pre-builds the images the team's settings make aishell-run look for (aishell_runner/fleet_images.py)."""

from __future__ import annotations

import io
import json

from aishell_runner import fleet_images, images


def vars_for(monkeypatch, capsys, text: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = fleet_images.main()
    out, err = capsys.readouterr()
    return code, out, err


def test_the_settings_choose_base_agents_and_the_proxy_image(monkeypatch, capsys):
    code, out, _ = vars_for(monkeypatch, capsys, "image: {base_source: debootstrap, ca_bundle: none}\n"
                                                 "agents: {codex: {version: ''}, claude: {version: 2.1.300}}\n")
    assert code == 0
    chosen = json.loads(out)
    defaults = images.settings_with({})["sandbox_image_agents"]
    assert chosen["sandbox_image_base_source"] == "debootstrap" and chosen["sandbox_image_ca_bundle"] == "none"
    assert chosen["sandbox_image_agents"] == {**defaults, "codex": "", "claude": "2.1.300"}
    assert chosen["sandbox_image_egress"] is True  # allowlist is the default network mode


def test_no_settings_mean_the_defaults_and_no_proxy_image_without_allowlist(monkeypatch, capsys):
    code, out, _ = vars_for(monkeypatch, capsys, "network: {mode: open}\n")
    chosen = json.loads(out)
    assert code == 0 and chosen["sandbox_image_egress"] is False
    assert chosen["sandbox_image_agents"] == images.settings_with({})["sandbox_image_agents"]
    assert chosen["sandbox_image_base_source"] == images.settings_with({})["sandbox_image_base_source"]


def test_malformed_settings_are_named_as_the_fleet_variable(monkeypatch, capsys):
    code, out, err = vars_for(monkeypatch, capsys, "image: {base_source: floppy}\n")
    assert code == 2 and out == ""
    assert err.startswith("error: fleet_settings:1: image.base_source") and "/tmp" not in err
