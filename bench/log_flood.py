"""How many log lines a broken item writes: the journal of an SD card must not fill up.

A real cloud and agent (dummy output); the screen's playlist is one broken file and,
optionally, a good image beside it. The cloud refuses undecodable uploads, so the broken
file is a picture that broke on the device: once downloaded, its cached copy is
overwritten with random bytes of the same size (an SD card going bad). The agent runs for
`--seconds` (the issue asks for 10 minutes) and the script counts its log lines by level.
Prints figures; asserts nothing.

    .venv/bin/python bench/log_flood.py [--seconds 600]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.agent import running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve, assign_playlist, upload  # noqa: E402
from tests.support.media import make_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        good = make_image(base / "good.png", "good", "#1f6feb")
        with running_cloud(base / "cloud") as cloud:
            doomed = make_image(base / "broken.png", "broken", "#d1242f").read_bytes()
            broken = upload(cloud, "broken.png", doomed, "image/png")
            fine = upload(cloud, "good.png", good.read_bytes(), "image/png")
            for label, items in (
                ("broken item alone", [{"asset_id": broken, "duration_s": 5}]),
                ("broken item beside a good one", [{"asset_id": broken, "duration_s": 5},
                                                   {"asset_id": fine, "duration_s": 5}]),
            ):  # fmt: skip
                with running_agent(base / label.replace(" ", "-"), cloud.url) as agent:
                    code = wait_until(lambda a=agent: a.status()["enrollment_code"], 30, "a code")
                    assign_playlist(cloud, approve(cloud, code), items)
                    wait_until(lambda a=agent: a.status()["playlist"], 30, "the playlist")
                    cached = agent.state_dir / "content" / hashlib.sha256(doomed).hexdigest()
                    wait_until(cached.exists, 30, "the picture in the cache")
                    cached.write_bytes(os.urandom(len(doomed)))
                    start = len(agent.log().splitlines())
                    time.sleep(args.seconds)
                    lines = agent.log().splitlines()[start:]
                    agent.stop()
                levels = collections.Counter(
                    line.split()[1] for line in lines if len(line.split()) > 1
                )
                print(f"{label}: {len(lines)} lines in {args.seconds:.0f} s "
                      f"({dict(levels)})")  # fmt: skip


if __name__ == "__main__":
    main()
