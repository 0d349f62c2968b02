"""Streams end to end: an admin adds a live stream by its URL, the real agent (libvlc's
dummy output) plays it from a loopback source between pictures from its cache, and the
cloud's proof of play holds the stream's plays: completed while the source sends, failed
with the reason once it stops sending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.player.test_streams import serving, transport_stream  # noqa: F401 (a fixture)
from tests.support.agent import RunningAgent, running_agent, wait_until
from tests.support.cloud import RunningCloud
from tests.support.device import approve, assign, create_playlist, upload
from tests.support.media import make_image
from tests.support.reports import stored_plays

STREAMS = "/api/v3/admin/assets/streams"
QUIET = {"SIGNAGE_AGENT_HEARTBEAT_INTERVAL": "3600"}


def add_stream(cloud: RunningCloud, url: str, name: str) -> str:
    with cloud.admin() as admin:
        response = admin.post(STREAMS, json={"name": name, "url": url})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def plays_of(cloud: RunningCloud, device_id: str, name: str) -> list[dict[str, Any]]:
    return [play for play in stored_plays(cloud, device_id) if play["name"] == name]


def enroll(agent: RunningAgent, cloud: RunningCloud) -> str:
    code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
    return approve(cloud, code, "Lobby")


def test_a_live_stream_plays_between_pictures_and_a_stalled_one_is_skipped(
    tmp_path: Path,
    cloud: RunningCloud,
    transport_stream: bytes,  # noqa: F811
) -> None:
    picture = make_image(tmp_path / "welcome.png", "welcome", "#1f6feb").read_bytes()
    welcome = upload(cloud, "welcome.png", picture, "image/png")
    with (
        serving(transport_stream) as source,
        running_agent(tmp_path / "agent", cloud.url, extra_env=QUIET) as agent,
    ):
        live = add_stream(cloud, source.url("live.ts"), "lobby camera")
        device = enroll(agent, cloud)
        assign(cloud, device, create_playlist(cloud, [
            {"asset_id": live, "duration_s": 2},
            {"asset_id": welcome, "duration_s": 1},
        ]))  # fmt: skip
        wait_until(lambda: agent.started_names().count("lobby camera") >= 2, 40, "the stream twice")
        names = agent.started_names()
        assert "welcome.png" in names[names.index("lobby camera") :]  # in turn with the picture
        completed = wait_until(
            lambda: [
                p for p in plays_of(cloud, device, "lobby camera") if p["outcome"] == "completed"
            ],
            30,
            "the stream's plays on the cloud",
        )
        assert 1.5 <= completed[0]["duration_ms"] / 1000 <= 3.0

        # The source stops sending midway: the stream fails, the picture plays on.
        stalled = add_stream(cloud, source.url("stall.ts"), "stalled camera")
        assign(cloud, device, create_playlist(cloud, [
            {"asset_id": stalled, "duration_s": 30},
            {"asset_id": welcome, "duration_s": 1},
        ]))  # fmt: skip
        failed = wait_until(
            lambda: [
                p for p in plays_of(cloud, device, "stalled camera") if p["outcome"] == "failed"
            ],
            40,
            "the stalled stream's failure on the cloud",
        )
        assert "stopped sending pictures" in (failed[0]["detail"] or "")
        wait_until(
            lambda: agent.started_names()[-1:] == ["welcome.png"], 20, "the picture after it"
        )
        assert agent.process.poll() is None
        assert "Traceback" not in agent.log()
