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


def contains(sequence: list[str], part: list[str]) -> bool:
    return any(sequence[i : i + len(part)] == part for i in range(len(sequence)))


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

        # items play as their files arrive (downloads run side by side), then in order
        two_loops = ["first.png", "clip.mp4", "last.png"] * 2
        wait_until(lambda: contains(agent.started_names(), two_loops), 60, "two loops in order")
        status = agent.status()
        assert agent.stop() == 0, agent.log()

    started = agent.started_names()
    assert set(started) == {"first.png", "clip.mp4", "last.png"}, started
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
    assert (status["running"], status["online"]) == (True, True)
    # cloud and agent share a clock here: long-polls held ~30 s must not skew the offset
    assert abs(status["clock_offset_s"]) <= 0.1, status["clock_offset_s"]
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


def test_an_admins_new_playlist_reaches_a_playing_screen(
    tmp_path: Path, cloud: RunningCloud, media: dict[str, Path]
) -> None:
    first = upload(cloud, "first.png", media["first.png"].read_bytes(), "image/png")
    last = upload(cloud, "last.png", media["last.png"].read_bytes(), "image/png")
    clip = upload(cloud, "clip.mp4", media["clip.mp4"].read_bytes(), "video/mp4")
    before = create_playlist(cloud, [{"asset_id": first, "duration_s": 1}], name="Before")
    after = create_playlist(
        cloud, [{"asset_id": clip}, {"asset_id": last, "duration_s": 1}], name="After"
    )
    # Polls every 60 s: the change can only arrive in time through long-poll.
    with running_agent(tmp_path / "agent", cloud.url, sync_interval=60) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        device_id = approve(cloud, code)
        assign(cloud, device_id, before)
        wait_until(lambda: agent.started_names().count("first.png") >= 2, 30, "the first playlist")

        assign(cloud, device_id, after)
        wait_until(
            lambda: {"clip.mp4", "last.png"} <= set(agent.started_names()), 30, "the new playlist"
        )
        assert agent.status()["playlist"] == "After"
        assert agent.stop() == 0

    names = agent.started_names()
    # the new items play as their files arrive (the smaller may come first), and the old
    # item is gone from the loop from the first new one on
    switched_at = min(names.index("clip.mp4"), names.index("last.png"))
    assert set(names[:switched_at]) == {"first.png"}
    assert "first.png" not in names[switched_at:]


def test_a_removed_screen_deletes_its_content_and_shows_a_new_code(
    tmp_path: Path, cloud: RunningCloud, media: dict[str, Path]
) -> None:
    first = upload(cloud, "first.png", media["first.png"].read_bytes(), "image/png")
    playlist = create_playlist(cloud, [{"asset_id": first, "duration_s": 1}])
    state_dir = tmp_path / "agent"
    with running_agent(state_dir, cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        device_id = approve(cloud, code)
        assign(cloud, device_id, playlist)
        wait_until(lambda: agent.started_names(), 30, "the playlist playing")
        assert list((state_dir / "content").iterdir())

        with cloud.admin() as admin:
            assert admin.delete(f"/api/v3/admin/devices/{device_id}").status_code == 200
        new_code = wait_until(
            lambda: (c := agent.status()["enrollment_code"]) != code and c, 30, "a new code"
        )
        status = agent.status()
        assert agent.process.poll() is None  # still running, waiting for the new code
        assert agent.stop() == 0

    assert new_code != code
    assert status["enrolled"] is False
    assert status["device_id"] is None and status["playlist"] is None
    assert list((state_dir / "content").iterdir()) == []
    assert "this device was removed" in agent.log()
    assert f"Enroll this screen: {new_code}" in agent.log()
