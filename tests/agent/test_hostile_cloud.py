"""The agent against a hostile or broken cloud: it keeps playing, keeps its store consistent,
never exits because of what it was sent, and `status` says what went wrong.

The real agent process talks to the real cloud through `tests.support.hostile`, a proxy
that corrupts answers on the wire (faults the reference cloud never produces).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import RunningAgent, running_agent, wait_until
from tests.support.cloud import RunningCloud
from tests.support.device import approve, assign, create_playlist, upload
from tests.support.hostile import CORRUPTIONS, HostileProxy, hostile_proxy
from tests.support.media import make_image

NO_LONG_POLL = {"SIGNAGE_AGENT_LONG_POLL": "0"}


@pytest.fixture
def proxy(cloud: RunningCloud) -> Iterator[HostileProxy]:
    with hostile_proxy(cloud.url) as running:
        yield running


def upload_image(cloud: RunningCloud, folder: Path, name: str, color: str) -> tuple[str, bytes]:
    data = make_image(folder / name, name, color).read_bytes()
    return upload(cloud, name, data, "image/png"), data


def enroll(agent: RunningAgent, cloud: RunningCloud, name: str = "Lobby") -> str:
    code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
    return approve(cloud, code, name)


def test_invalid_state_answers_are_rejected_whole_and_playback_goes_on(
    tmp_path: Path, cloud: RunningCloud, proxy: HostileProxy
) -> None:
    first, _ = upload_image(cloud, tmp_path, "first.png", "#1f6feb")
    second, _ = upload_image(cloud, tmp_path, "second.png", "#2da44e")
    playlist_one = create_playlist(cloud, [{"asset_id": first, "duration_s": 1}], name="one")
    with running_agent(tmp_path / "agent", proxy.url, extra_env=NO_LONG_POLL) as agent:
        device_id = enroll(agent, cloud)
        assign(cloud, device_id, playlist_one)
        wait_until(lambda: "first.png" in agent.started_names(), 30, "the first playlist")
        good = agent.status()

        for what, corruption in CORRUPTIONS.items():
            seen = proxy.corrupted_answers
            proxy.corrupt_state = corruption
            wait_until(lambda n=seen: proxy.corrupted_answers >= n + 2, 30, f"{what}, twice")
            proxy.corrupt_state = None
            status = wait_until(lambda: (s := agent.status())["online"] and s, 30, "online")
            assert agent.process.poll() is None, f"the agent died of {what}"
            # nothing of the bad answer was applied
            assert (status["cursor"], status["playlist"]) == (good["cursor"], "one"), what
            assert [i["name"] for i in status["items"]] == ["first.png"], what
            assert status["last_error"], what

        # the screen kept playing all along, and takes the next good answer
        playing_before = len(agent.started_names())
        playlist_two = create_playlist(cloud, [{"asset_id": second, "duration_s": 1}], name="two")
        assign(cloud, device_id, playlist_two)
        wait_until(lambda: "second.png" in agent.started_names(), 30, "the second playlist")
        assert playing_before >= 3
        assert agent.stop() == 0
    log = agent.log()
    assert "Traceback" not in log
    # a newline in a name never forges a log line
    assert not any(line.startswith("12:00:00 INFO    agent: forged") for line in log.splitlines())


def test_one_blob_that_cannot_be_downloaded_blocks_neither_the_others_nor_the_playlist(
    tmp_path: Path, cloud: RunningCloud, proxy: HostileProxy
) -> None:
    import hashlib

    old, _ = upload_image(cloud, tmp_path, "old.png", "#888888")
    good, _ = upload_image(cloud, tmp_path, "good.png", "#1f6feb")
    blobs = {}
    for name, color in (("missing.png", "#d73a49"), ("longer.png", "#6f42c1"),
                        ("wrong.png", "#e36209")):  # fmt: skip
        asset, data = upload_image(cloud, tmp_path, name, color)
        blobs[name] = (asset, hashlib.sha256(data).hexdigest(), len(data))
    proxy.blob_faults[blobs["missing.png"][1]] = "missing"
    proxy.blob_faults[blobs["longer.png"][1]] = "longer"
    proxy.blob_faults[blobs["wrong.png"][1]] = "wrong_bytes"

    playlist_old = create_playlist(cloud, [{"asset_id": old, "duration_s": 1}], name="old")
    # the broken blobs sort before the good one in every order the agent might use
    items = [{"asset_id": blobs[n][0], "duration_s": 1} for n in blobs]
    playlist_new = create_playlist(cloud, [*items, {"asset_id": good, "duration_s": 1}], name="new")
    with running_agent(tmp_path / "agent", proxy.url) as agent:
        device_id = enroll(agent, cloud)
        assign(cloud, device_id, playlist_old)
        wait_until(lambda: "old.png" in agent.started_names(), 30, "the old playlist")
        assign(cloud, device_id, playlist_new)
        wait_until(lambda: "good.png" in agent.started_names(), 30, "the good item playing")
        # the old playlist is gone from the screen; the broken items are skipped
        wait_until(lambda: agent.started_names()[-3:] == ["good.png"] * 3, 30, "only good.png")
        status = agent.status()
        cached = {item["name"]: item["cached"] for item in status["items"]}
        assert cached == {"missing.png": False, "longer.png": False, "wrong.png": False,
                          "good.png": True}  # fmt: skip
        # a blob longer than announced was never written far past its size
        content = tmp_path / "agent" / "content"
        for path in content.iterdir():
            assert path.stat().st_size <= max(size for _, _, size in blobs.values()), path
        # retried with backoff, not hammered
        assert all(1 <= proxy.blob_requests.get(sha, 0) <= 8 for _, sha, _ in blobs.values())

        proxy.blob_faults.clear()  # the cloud recovers: every item comes back
        wait_until(
            lambda: {"missing.png", "longer.png", "wrong.png"} <= set(agent.started_names()),
            90,
            "the repaired items playing",
        )
        assert agent.stop() == 0
    assert "Traceback" not in agent.log()


def test_after_approval_the_screen_says_no_content_yet_with_its_name(
    tmp_path: Path, cloud: RunningCloud
) -> None:
    with running_agent(tmp_path / "agent", cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        assert agent.status()["message"]["headline"] == code
        approve(cloud, code, "Reception")
        approved_at = time.monotonic()
        wait_until(
            lambda: agent.status()["message"]
            == {"title": "Reception", "headline": "No content yet",
                "lines": ["Assign a playlist to this screen in the admin portal"]},
            10,
            "'No content yet' with the screen's name",
        )  # fmt: skip
        took = time.monotonic() - approved_at
        assert agent.stop() == 0
    print(f"approval -> 'No content yet' on screen: {took:.2f} s")


def test_a_forgotten_cursor_leads_to_a_full_listing_that_removes_what_is_gone(
    tmp_path: Path, cloud: RunningCloud, proxy: HostileProxy
) -> None:
    first, _ = upload_image(cloud, tmp_path, "first.png", "#1f6feb")
    second, second_bytes = upload_image(cloud, tmp_path, "second.png", "#2da44e")
    items = [{"asset_id": first, "duration_s": 1}, {"asset_id": second, "duration_s": 1}]
    playlist = create_playlist(cloud, items, name="both")
    env = {**NO_LONG_POLL, "SIGNAGE_AGENT_CACHE_GRACE": "0"}  # unused blobs go at once
    with running_agent(tmp_path / "agent", proxy.url, extra_env=env) as agent:
        device_id = enroll(agent, cloud)
        assign(cloud, device_id, playlist)
        wait_until(lambda: {"first.png", "second.png"} <= set(agent.started_names()), 30, "both")
        before = agent.status()["cursor"]
        proxy.forget_cursors = True  # the cloud lost its change log (a restore, say)
        with cloud.admin() as admin:  # meanwhile an admin deletes an asset in use
            answer = admin.delete(f"/api/v3/admin/assets/{second}", params={"force": "true"})
            assert answer.status_code == 200, answer.text
        status = wait_until(
            lambda: (
                (s := agent.status())["cursor"] != before
                and [i["name"] for i in s["items"]] == ["first.png"]
                and s
            ),
            30,
            "a full listing without second.png",
        )
        proxy.forget_cursors = False
        assert proxy.gone_answers >= 1
        # the deleted asset's blob leaves the cache once nothing uses it
        second_sha = hashlib.sha256(second_bytes).hexdigest()
        wait_until(
            lambda: not (tmp_path / "agent" / "content" / second_sha).exists(), 30, "the blob gone"
        )
        assert agent.process.poll() is None and status["online"]
        assert agent.stop() == 0
    assert "Traceback" not in agent.log()
