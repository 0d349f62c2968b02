"""A Pi has no real-time clock: an agent whose clock is years off must work all the same.

The agent runs under libfaketime (its wall clock shifted, its monotonic clock true, as on a
Pi that booted with a stale time). It must enroll, sync, play, refresh an expired access
token and follow an admin's change: freshness comes from the cloud's DPoP nonces and the
cloud's own clock, never from the device's.
"""

from __future__ import annotations

import glob
import time
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
            assert agent.stop() == 0
    started_at = agent.play_events()[0]["at"]
    this_year = time.gmtime().tm_year
    assert not started_at.startswith(str(this_year))  # the agent really ran with a wrong clock
    assert "refreshed the access token" in agent.log()
    assert "Traceback" not in agent.log()
