"""What reporting costs on the wire: an idle online screen per hour, and per 1,000 plays.

A real reference cloud and a real agent process (dummy video output) on loopback; the agent
reaches the cloud through a byte-counting TCP relay, so the figures are bytes on the wire in
both directions, headers (DPoP proofs, tokens) included. Requests are counted from the
cloud's access log, by path.

Three phases, on one enrolled screen whose state folder is kept between runs:

1. idle, heartbeats off (interval 3600 s; one image shown for an hour): the long-poll
   renewals alone, `--seconds` long;
2. idle, heartbeats every 10 s (the config's lowest): the same plus heartbeats; the
   difference per events request is the cost of one heartbeat;
3. playing 1 s images, heartbeats off: the events requests per play event.

The bytes of one renewal and of one heartbeat come from the two idle phases (each phase's
bytes = renewals x r + events requests x h, two equations); an hour at the default settings
(long-poll 30 s, a heartbeat every 60 s) is then the renewals of phase 1 scaled to an hour
times r, plus 60 h. A play costs what phase 3 sent beyond its renewals, per play.
Prints figures; asserts nothing.

    .venv/bin/python bench/report_traffic.py [--seconds 120] [--play-seconds 60]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.agent import RunningAgent, running_agent, wait_until  # noqa: E402
from tests.support.cloud import LOG_FILE_NAME, RunningCloud, running_cloud  # noqa: E402
from tests.support.device import approve, assign, create_playlist, upload  # noqa: E402
from tests.support.media import make_image  # noqa: E402
from tests.support.relay import CountingRelay  # noqa: E402
from tests.support.reports import reports_supported  # noqa: E402

EVENTS = "POST /api/v3/device/events"
STATE = "GET /api/v3/device/state"


@dataclass(frozen=True)
class Traffic:
    seconds: float
    sent: int  # bytes, agent -> cloud
    received: int  # bytes, cloud -> agent
    state_requests: int
    events_requests: int

    @property
    def bytes(self) -> int:
        return self.sent + self.received


class Meter:
    """Bytes through the relay and requests in the cloud's log, between two readings."""

    def __init__(self, cloud: RunningCloud, relay: CountingRelay) -> None:
        self._log = cloud.data_dir / LOG_FILE_NAME
        self._relay = relay

    def _lines(self) -> list[str]:
        return self._log.read_text(errors="replace").splitlines()

    @contextmanager
    def measure(self, into: list[Traffic]) -> Iterator[None]:
        self._relay.reset()
        lines, started = len(self._lines()), time.monotonic()
        yield
        seconds = time.monotonic() - started
        sent, received = self._relay.reset()
        new = self._lines()[lines:]
        into.append(
            Traffic(
                seconds=seconds,
                sent=sent,
                received=received,
                state_requests=sum(STATE in line for line in new),
                events_requests=sum(EVENTS in line for line in new),
            )
        )


def stop(agent: RunningAgent) -> None:
    """SIGKILL: a clean stop is not what is measured, and libvlc may take its time to stop."""
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait()


def play_count(agent: RunningAgent) -> int:
    return len([e for e in agent.play_events() if e["event"] in ("ended", "failed")])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0, help="each idle phase")
    parser.add_argument("--play-seconds", type=float, default=60.0, help="the playing phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with running_cloud(base / "cloud") as cloud:
            if not reports_supported(cloud):
                print("the reference cloud does not take POST /device/events: nothing to measure")
                return 1
            relay = CountingRelay(int(cloud.url.rsplit(":", 1)[1]))
            url = f"http://127.0.0.1:{relay.port}"
            meter = Meter(cloud, relay)
            still_png = make_image(base / "s.png", "idle", "#444").read_bytes()
            still = upload(cloud, "still.png", still_png, "image/png")
            idle_list = create_playlist(cloud, [{"asset_id": still, "duration_s": 3600}], "idle")
            quick = [
                upload(cloud, f"{n}.png", make_image(base / f"{n}.png", str(n), color).read_bytes(),
                       "image/png")
                for n, color in enumerate(("#d1242f", "#2da44e"))
            ]  # fmt: skip
            plays_list = create_playlist(
                cloud, [{"asset_id": a, "duration_s": 1} for a in quick], "plays"
            )
            state_dir = base / "agent"
            quiet = {"SIGNAGE_AGENT_HEARTBEAT_INTERVAL": "3600"}
            often = {"SIGNAGE_AGENT_HEARTBEAT_INTERVAL": "10"}
            phases: list[Traffic] = []
            with running_agent(state_dir, url, extra_env=quiet) as agent:
                code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
                device_id = approve(cloud, code, "bench")
                assign(cloud, device_id, idle_list)
                wait_until(lambda: agent.started_names(), 60, "the idle image")
                wait_until(lambda: not (agent.status()["outbox"] or {}).get("events"), 30,
                           "the first heartbeat sent")  # fmt: skip
                time.sleep(2)
                with meter.measure(phases):  # 1: renewals alone
                    time.sleep(args.seconds)
                assign(cloud, device_id, plays_list)
                wait_until(lambda: play_count(agent) >= 3, 60, "plays")
                time.sleep(2)
                before = play_count(agent)
                with meter.measure(phases):  # 3: plays
                    time.sleep(args.play_seconds)
                    plays = play_count(agent) - before
                    wait_until(lambda: not (agent.status()["outbox"] or {}).get("events"), 30,
                               "the plays sent")  # fmt: skip
                assign(cloud, device_id, idle_list)
                stop(agent)
            with running_agent(state_dir, url, extra_env=often) as agent:
                wait_until(lambda: agent.started_names(), 60, "the idle image")
                time.sleep(12)
                with meter.measure(phases):  # 2: renewals and heartbeats
                    time.sleep(args.seconds)
                stop(agent)
    idle, playing, beating = phases
    # bytes = renewals * r + events requests * h, in both idle phases: solve for r and h
    det = (
        idle.state_requests * beating.events_requests
        - beating.state_requests * idle.events_requests
    )
    renewal = (idle.bytes * beating.events_requests - beating.bytes * idle.events_requests) / det
    heartbeat = (idle.state_requests * beating.bytes - beating.state_requests * idle.bytes) / det
    per_play = (playing.bytes - renewal * playing.state_requests) / max(1, plays)
    hour_renewals = idle.state_requests * 3600 / idle.seconds
    hour_bytes = renewal * hour_renewals + 60 * heartbeat
    print(
        f"idle, no heartbeats, {idle.seconds:.0f} s: {idle.state_requests} state requests, "
        f"{idle.events_requests} events requests, {idle.bytes} B "
        f"({idle.sent} B up, {idle.received} B down); {renewal:.0f} B per renewal"
    )
    print(
        f"idle, heartbeat every 10 s, {beating.seconds:.0f} s: {beating.state_requests} state, "
        f"{beating.events_requests} events requests, {beating.bytes} B; "
        f"{heartbeat:.0f} B per heartbeat (request and answer)"
    )
    print(
        f"playing 1 s images, {playing.seconds:.0f} s: {plays} plays, "
        f"{playing.events_requests} events requests, {playing.state_requests} state requests, "
        f"{playing.bytes} B; {per_play:.0f} B per play"
    )
    print(
        f"an idle online hour at the defaults (long-poll 30 s, heartbeat 60 s): "
        f"{hour_renewals:.0f} renewals + 60 heartbeats = {hour_renewals + 60:.0f} requests, "
        f"{hour_bytes / 1024:.0f} KiB"
    )
    print(f"per 1,000 plays: {1000 * playing.events_requests / max(1, plays):.0f} events requests, "
          f"{per_play * 1000 / 1024:.0f} KiB (plays 1 s apart: about one request a second "
          f"carries what ended since the last)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
