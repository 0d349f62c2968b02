"""The agent's memory and CPU while a hostile cloud sends it bad answers.

A real cloud behind `tests.support.hostile`'s proxy, a real agent (dummy output) playing a
1920x1080 image. For each mode, the proxy corrupts every state answer for `--seconds`, and
the script samples the agent's resident memory and CPU time from /proc. "honest" is the
baseline of the same run. Prints figures; asserts nothing.

    .venv/bin/python bench/hostile_cloud.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.agent import running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve, assign, create_playlist, upload  # noqa: E402
from tests.support.hostile import CORRUPTIONS, hostile_proxy  # noqa: E402
from tests.support.media import make_image  # noqa: E402
from tests.support.proc import cpu_s, rss_mib  # noqa: E402


def run(base: Path, seconds: float, modes: dict[str, Callable[[dict[str, Any]], bytes] | None]):
    image = make_image(base / "full.png", "full HD", "#1f6feb")
    env = {"SIGNAGE_AGENT_LONG_POLL": "0"}
    with running_cloud(base / "cloud") as cloud, hostile_proxy(cloud.url) as proxy:
        asset = upload(cloud, "full.png", image.read_bytes(), "image/png")
        playlist = create_playlist(cloud, [{"asset_id": asset, "duration_s": 5}])
        with running_agent(base / "agent", proxy.url, extra_env=env) as agent:
            code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
            assign(cloud, approve(cloud, code), playlist)
            wait_until(lambda: agent.started_names(), 60, "the image playing")
            pid = agent.process.pid
            for mode, corruption in modes.items():
                proxy.corrupt_state = corruption
                before_answers, before_cpu = proxy.corrupted_answers, cpu_s(pid)
                started = time.monotonic()
                samples = []
                while time.monotonic() - started < seconds:
                    samples.append(rss_mib(pid)[0])
                    time.sleep(0.5)
                elapsed = time.monotonic() - started
                cpu = (cpu_s(pid) - before_cpu) / elapsed * 100
                proxy.corrupt_state = None
                alive = agent.process.poll() is None
                print(
                    f"{mode:>22}: RSS median {statistics.median(samples):6.1f} MiB, "
                    f"peak {max(samples):6.1f} MiB, VmHWM {rss_mib(pid)[1]:6.1f} MiB, "
                    f"CPU {cpu:5.1f}% of a core, {proxy.corrupted_answers - before_answers} "
                    f"bad answers, agent {'alive' if alive else 'DEAD'}"
                )
                # let it recover (one good answer resets the backoff) before the next mode
                wait_until(lambda: agent.status()["online"], 90, "the agent online again")
            agent.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    modes = {
        "honest": None,
        "50 MB answer": CORRUPTIONS["50 MB answer"],
        "5 MB name": CORRUPTIONS["5 MB name"],
        "duplicate asset ids": CORRUPTIONS["duplicate asset ids"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.seconds, modes)


if __name__ == "__main__":
    main()
