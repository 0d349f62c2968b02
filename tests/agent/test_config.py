from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_defaults_when_there_is_no_file(tmp_path: Path) -> None:
    config = load_config(config_file=None, environ={}, overrides={"state_dir": tmp_path})
    assert config.cloud_url == "http://127.0.0.1:8080"
    assert config.video_output == "auto"
    assert config.state_dir == tmp_path


def test_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'cloud_url = "https://file.example"\nvideo_output = "kms"\nsync_interval_s = 3\n'
    )
    env = {"SIGNAGE_AGENT_CLOUD_URL": "https://env.example/", "SIGNAGE_AGENT_VIDEO_OUTPUT": "dummy"}
    config = load_config(config_file=path, environ=env, overrides={"video_output": "window"})
    assert config.cloud_url == "https://env.example"  # env beats file; trailing slash dropped
    assert config.video_output == "window"  # command line beats env
    assert config.sync_interval_s == 3


def test_every_problem_is_reported_at_once_with_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'cloud_url = "ftp://x"\nsync_interval_s = -1\nvideo_ouptut = "kms"\n')
    with pytest.raises(ConfigError) as info:
        load_config(config_file=path, environ={})
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert any("cloud_url" in line and "http" in line for line in lines)
    assert any("sync_interval_s" in line for line in lines)
    assert any("video_ouptut: unknown key" in line for line in lines)
    assert all(line.startswith(str(path)) for line in lines)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cloud_url = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(config_file=path, environ={})


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(config_file=tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("url", "plain_remote"),
    [
        ("http://127.0.0.1:8080", False),
        ("http://localhost", False),
        ("http://cloud.example", True),
        ("https://cloud.example", False),
    ],
)
def test_plain_http_to_a_remote_host_is_flagged(url: str, plain_remote: bool) -> None:
    assert AgentConfig(cloud_url=url).cloud_is_plain_http_remote is plain_remote
