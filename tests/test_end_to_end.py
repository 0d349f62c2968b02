"""The walking skeleton end to end: real cloud and agent processes, real SQLite, real libvlc.

enroll with a code → an admin approves it → the agent syncs the playlist, downloads the blobs
and plays the items in order, in a loop; restarted with the cloud gone, it plays from its cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support.agent import running_agent, wait_until
from tests.support.cloud import RunningCloud
from tests.support.device import approve, assign, create_playlist, upload
from tests.support.media import make_image, make_video


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "media"
    folder.mkdir()
    return {
        "first.png": make_image(folder / "first.png", "first", "#1f6feb"),
        "clip.mp4": make_video(folder / "clip.mp4", seconds=1.0),
        "last.png": make_image(folder / "last.png", "last", "#2da44e"),
    }


def test_enroll_sync_and_play_in_order_then_play_offline_from_cache(
    tmp_path: Path, cloud: RunningCloud, media: dict[str, Path]
) -> None:
    first, clip, last = (
        upload(cloud, name, media[name].read_bytes(), content_type)
        for name, content_type in (
            ("first.png", "image/png"), ("clip.mp4", "video/mp4"), ("last.png", "image/png")
        )
    )  # fmt: skip
    playlist_id = create_playlist(
        cloud,
        [
            {"asset_id": first, "duration_s": 1},
            {"asset_id": clip},
            {"asset_id": last, "duration_s": 1},
        ],
        name="Loop",
    )

    state_dir = tmp_path / "agent"
    with running_agent(state_dir, cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        assert agent.status()["enrolled"] is False
        assert code in agent.log()  # the code is also in the log, for an installer with a console

        device_id = approve(cloud, code, "Lobby")
        assign(cloud, device_id, playlist_id)

        wait_until(lambda: len(agent.started_names()) >= 7, 60, "two loops of the playlist")
        status = agent.status()
        assert agent.stop() == 0, agent.log()

    started = agent.started_names()
    assert started[:7] == ["first.png", "clip.mp4", "last.png"] * 2 + ["first.png"], started
    ended = [e for e in agent.play_events() if e["event"] == "ended"]
    assert ended and all(e["played_ms"] > 0 for e in ended)
    assert not [e for e in agent.play_events() if e["event"] == "failed"]
    assert status["enrolled"] is True
    assert status["device_id"] == device_id
    assert status["tenant_id"] == cloud.tenant_id
    assert status["enrollment_code"] is None
    assert status["playlist"] == "Loop"
    assert status["cursor"]
    assert status["now_playing"]["name"] in {"first.png", "clip.mp4", "last.png"}
    # every cached blob is exactly the bytes that were uploaded
    for name, path in media.items():
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert (state_dir / "content" / sha).read_bytes() == path.read_bytes(), name

    # the cloud goes away; a restarted agent plays what it has, without a new enrollment
    cloud.stop()
    before = len(agent.started_names())
    with running_agent(state_dir, cloud.url) as offline:
        wait_until(
            lambda: len(offline.started_names()) >= before + 3, 60, "playback from the cache"
        )
        assert offline.status()["enrolled"] is True
        assert offline.stop() == 0
    assert "sync failed" in offline.log()
    assert offline.started_names()[before : before + 3] == ["first.png", "clip.mp4", "last.png"]
