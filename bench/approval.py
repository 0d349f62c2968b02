"""Approval → first synced state, with the cloud's and the agent's default settings.

A real cloud (default token poll interval) and a real agent (dummy output): the script
approves the code 3 to 8 s after it shows (an installer typing it) and times until the
agent's status has a cursor (its first state applied) and shows "No content yet" with the
screen's name. Several rounds, each a fresh screen. Prints figures; asserts nothing.

    .venv/bin/python bench/approval.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.settings import DEFAULT_POLL_INTERVAL_S  # noqa: E402
from tests.support.agent import running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    synced, named = [], []
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with running_cloud(base / "cloud", poll_interval=DEFAULT_POLL_INTERVAL_S) as cloud:
            for n in range(args.rounds):
                with running_agent(base / f"agent-{n}", cloud.url, sync_interval=10.0) as agent:
                    code = wait_until(lambda a=agent: a.status()["enrollment_code"], 30, "a code")
                    time.sleep(rng.uniform(3, 8))  # the installer reads and types the code
                    approve(cloud, code, f"Screen {n}")
                    approved = time.monotonic()
                    wait_until(lambda a=agent: a.status()["cursor"], 30, "a state", interval=0.01)
                    synced.append(time.monotonic() - approved)
                    wait_until(
                        lambda a=agent, n=n: (
                            (a.status()["message"] or {}).get("title") == f"Screen {n}"
                        ),
                        30,
                        "the name on screen",
                        interval=0.01,
                    )
                    named.append(time.monotonic() - approved)
                    agent.stop()
    print(f"token poll interval {DEFAULT_POLL_INTERVAL_S} s, {args.rounds} screens:")
    print(
        f"  approval -> first state applied:         median {statistics.median(synced):.2f} s, "
        f"max {max(synced):.2f} s"
    )
    print(
        f"  approval -> 'No content yet' + its name:  median {statistics.median(named):.2f} s, "
        f"max {max(named):.2f} s"
    )


if __name__ == "__main__":
    main()
