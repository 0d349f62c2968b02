"""A Pi has no real-time clock: an agent whose clock is years off must work all the same.

The agent runs under libfaketime (its wall clock shifted, its monotonic clock true, as on a
Pi that booted with a stale time). It must enroll, sync, play, refresh an expired access
token and follow an admin's change: freshness comes from the cloud's DPoP nonces and the
cloud's own clock, never from the device's.
"""

from __future__ import annotations

import glob
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.agent import running_agent, wait_until
from tests.support.cloud import running_cloud
from tests.support.device import approve, assign, create_playlist, upload
from tests.support.media import make_image

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))


@pytest.mark.parametrize("offset", ["-1000d", "+5y"])
def test_an_agent_whose_clock_is_years_off_enrolls_syncs_and_plays(
    tmp_path: Path, offset: str
) -> None:
    assert LIBFAKETIME, "libfaketime is missing: `make test` installs the faketime package"
    image = make_image(tmp_path / "a.png", "A", "#1f6feb")
    wrong_clock = {
        "LD_PRELOAD": LIBFAKETIME[0],
        "FAKETIME": offset,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    with running_cloud(tmp_path / "cloud", access_token_ttl=2) as cloud:
        asset = upload(cloud, "a.png", image.read_bytes(), "image/png")
        first = create_playlist(cloud, [{"asset_id": asset, "duration_s": 1}], name="first")
        with running_agent(tmp_path / "agent", cloud.url, extra_env=wrong_clock) as agent:
            code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
            device_id = approve(cloud, code)
            assign(cloud, device_id, first)
            wait_until(lambda: agent.started_names(), 30, "the first playlist playing")
            time.sleep(2.5)  # the access token has expired by the cloud's clock
            second = create_playlist(cloud, [{"asset_id": asset, "duration_s": 2}], name="second")
            assign(cloud, device_id, second)
            wait_until(lambda: agent.status()["playlist"] == "second", 30, "the second playlist")
            # its next request finds the access token expired by the cloud's clock
            wait_until(lambda: "refreshed the access token" in agent.log(), 30, "a refresh")
            status = agent.status()
            assert agent.stop() == 0
    # the device's clock really was years off, the other way round from the offset
    offset = status["clock_offset_s"]
    assert abs(offset) > 300 * 86400
    assert (offset > 0) == offset_is_behind(wrong_clock["FAKETIME"])
    assert "clock is" in agent.log() and "off the cloud's" in agent.log()
    # yet every play time it recorded is true (proof of play), to within a couple of minutes
    for event in agent.play_events():
        recorded = datetime.fromisoformat(event["at"])
        assert abs((recorded - datetime.now(UTC)).total_seconds()) < 120, event
    assert "refreshed the access token" in agent.log()
    assert "Traceback" not in agent.log()


def offset_is_behind(faketime: str) -> bool:
    return faketime.startswith("-")
