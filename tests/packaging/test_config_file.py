"""/etc/signage-agent/agent.toml and docs/operations.md are generated from the config schema
(packaging/agent_toml.py): every key is there, documented, and at its real default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import ENV_KEYS, AgentConfig, load_config
from tests.packaging.conftest import ROOT, load

agent_toml = load("agent_toml")


def test_every_key_is_in_the_conffile_commented_out_at_its_default(tmp_path: Path) -> None:
    text = agent_toml.conffile()
    for key in AgentConfig.model_fields:
        assert re.search(rf"^#{key} = ", text, re.M), f"{key} is not in agent.toml"
        assert f"# Environment: {ENV_KEYS[key]}\n#{key} = " in text
    # as shipped (all commented) and with every key uncommented, it is the default config
    shipped = tmp_path / "agent.toml"
    shipped.write_text(text)
    uncommented = tmp_path / "uncommented.toml"
    uncommented.write_text(re.sub(r"^#([a-z_]+ = )", r"\1", text, flags=re.M))
    assert load_config(config_file=shipped, environ={}) == AgentConfig()
    assert load_config(config_file=uncommented, environ={}) == AgentConfig()


def test_a_build_for_one_cloud_sets_cloud_url(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml.conffile("https://signage.example.com/"))
    loaded = load_config(config_file=config, environ={})
    assert loaded.cloud_url == "https://signage.example.com"


def test_a_key_without_documentation_stops_the_build() -> None:
    doc = (ROOT / "docs" / "agent.md").read_text()
    some_key = next(iter(AgentConfig.model_fields))
    without = "\n".join(line for line in doc.splitlines() if not line.startswith(f"| `{some_key}`"))
    with pytest.raises(agent_toml.UndocumentedKey, match=some_key):
        agent_toml.check_documented(without)
    assert set(agent_toml.check_documented(doc)) >= set(AgentConfig.model_fields)


def test_operations_doc_lists_every_key_as_generated() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert agent_toml.docs_with_table(doc) == doc, (
        "docs/operations.md's config table is out of date: run "
        "`.venv/bin/python packaging/agent_toml.py --update-docs`"
    )
