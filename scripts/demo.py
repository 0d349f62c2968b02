"""`make demo`: a local reference cloud, a fresh agent, enrollment with a code, content played.

What an installer and an admin would do, scripted:
  1. generate demo media (a video with a visible counter, two images),
  2. start the reference cloud on 127.0.0.1 with a demo tenant, upload the media, make a playlist,
  3. start the agent with a fresh state folder: it shows an enrollment code,
  4. read the code the agent shows, approve it through the cloud's admin CLI, assign the playlist,
  5. watch the agent sync, download and play the items in a loop.

Runs until Ctrl-C, or for DEMO_SECONDS seconds. Everything lives in ./demo-data, made afresh on
each run, so a second run needs no cleanup.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.cloud import free_port  # noqa: E402
from tests.support.media import make_image, make_video  # noqa: E402

DATA = ROOT / "demo-data"
BIN = Path(sys.executable).parent


def say(message: str) -> None:
    print(f"demo  | {message}", flush=True)


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, check=False, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"demo: {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def relay(process: subprocess.Popen[str], prefix: str) -> threading.Thread:
    """Print a child's output line by line with a prefix, so the two logs read as one story.

    The cloud's access log (one line per request, most of them polls) is left out.
    """

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if "uvicorn.access" not in line:
                print(f"{prefix} | {line.rstrip()}", flush=True)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"demo: gave up waiting {timeout:.0f} s for {what}")


def agent_status(state_dir: Path) -> dict:
    out = subprocess.run(
        [str(BIN / "signage-agent"), "status", "--state-dir", str(state_dir), "--json"],
        check=False,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout else {}


def main() -> int:
    started = time.monotonic()
    seconds = float(os.environ.get("DEMO_SECONDS", "0") or 0)
    shutil.rmtree(DATA, ignore_errors=True)
    media, cloud_data, agent_state = DATA / "media", DATA / "cloud", DATA / "agent"
    media.mkdir(parents=True)

    say("generating demo media: a 6 s video with a counter and two images")
    make_video(media / "counter.mp4", seconds=6.0, size=(640, 360))
    make_image(media / "welcome.png", "Welcome to signage-agent", "#1f6feb", size=(1280, 720))
    make_image(media / "specials.png", "Today's specials", "#2da44e", size=(1280, 720))
    make_image(media / "announcement.png", "Announcement", "#d1242f", size=(1280, 720))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    key = run(
        str(BIN / "signage-cloud"), "tenant", "create", "Demo tenant", "--data", str(cloud_data)
    )
    admin_env = {**os.environ, "SIGNAGE_ADMIN_URL": url, "SIGNAGE_ADMIN_KEY": key}
    cloud_cmd = [
        str(BIN / "signage-cloud"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data",
        str(cloud_data),
    ]
    cloud = subprocess.Popen(cloud_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    relay(cloud, "cloud")
    agent: subprocess.Popen[str] | None = None
    try:
        import httpx

        wait_for(lambda: _healthy(httpx, url), 20, "the cloud to start")
        say(f"cloud is up at {url}; uploading the demo media and making a playlist")

        def admin(*args: str) -> str:
            return run(str(BIN / "signage-cloud"), *args, env=admin_env)

        welcome = admin("asset", "add", str(media / "welcome.png"), "--name", "welcome.png")
        counter = admin("asset", "add", str(media / "counter.mp4"), "--name", "counter.mp4")
        specials = admin("asset", "add", str(media / "specials.png"), "--name", "specials.png")
        playlist = admin(
            "playlist",
            "create",
            "Demo loop",
            "--item",
            f"{welcome}:4",
            "--item",
            counter,
            "--item",
            f"{specials}:4",
        )

        announcement = admin(
            "asset", "add", str(media / "announcement.png"), "--name", "announcement.png"
        )
        urgent = admin("playlist", "create", "Announcement", "--item", f"{announcement}:60")

        say("starting the agent with a fresh state folder")
        agent_env = {**os.environ, "SIGNAGE_AGENT_SYNC_INTERVAL": "1", "PYTHONUNBUFFERED": "1"}
        agent = subprocess.Popen(
            [str(BIN / "signage-agent"), "run", "--state-dir", str(agent_state), "--cloud", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=agent_env,
        )
        relay(agent, "agent")
        code = wait_for(
            lambda: agent_status(agent_state).get("enrollment_code"),
            30,
            "the agent to show an enrollment code",
        )
        say(
            f"the installer reads the code {code} off the screen and types it into the admin portal"
        )
        device = admin("enroll", "approve", code, "--name", "Demo screen")
        say(f"approved: device {device}; assigning the playlist 'Demo loop'")
        admin("device", "assign", device, "--playlist", playlist)

        first = wait_for(
            lambda: agent_status(agent_state).get("now_playing"), 60, "the first item to play"
        )
        elapsed = time.monotonic() - started
        say(f"first item ({first['name']}) playing {elapsed:.1f} s after the demo started")
        say("an admin interrupts the screen with an announcement for 8 s")
        asked = time.monotonic()
        admin("interrupt", "--device", device, "--playlist", urgent, "--for", "8")
        wait_for(lambda: _playing(agent_state) == "announcement.png", 20, "the announcement")
        say(f"the announcement is on screen {time.monotonic() - asked:.2f} s after the command")
        wait_for(lambda: _playing(agent_state) not in (None, "announcement.png"), 30, "the loop")
        schedule = agent_status(agent_state).get("schedule") or {}
        say(f"8 s later the interrupt ended by itself: back to {schedule.get('why')}")
        say("running until Ctrl-C" if not seconds else f"running for {seconds:.0f} s in all")
        while not seconds or time.monotonic() - started < seconds:
            if agent.poll() is not None:
                if agent.returncode != 0:
                    raise SystemExit(f"demo: the agent exited with code {agent.returncode}")
                break  # Ctrl-C reaches the agent too (one process group): it stopped cleanly
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("Ctrl-C: stopping")
    finally:
        for name, process in (("agent", agent), ("cloud", cloud)):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    say(f"the {name} did not stop within 10 s: killing it")
                    process.kill()
    _summary(agent_state)
    return 0


def _playing(agent_state: Path) -> str | None:
    now = agent_status(agent_state).get("now_playing")
    return now["name"] if now else None


def _healthy(httpx, url: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _summary(agent_state: Path) -> None:
    from agent.store import Store

    store = Store.open_read_only(agent_state)
    if store is None:
        return
    try:
        events = store.play_events(limit=10_000)
    finally:
        store.close()
    played = [e for e in events if e["event"] == "ended"]
    failed = [e for e in events if e["event"] == "failed"]
    say(f"played {len(played)} items ({len(failed)} failed); when each ended, and for how long:")
    for event in played:
        say(f"  {event['at']}  {event['name']:<14} {event['played_ms'] / 1000:5.1f} s")


if __name__ == "__main__":
    sys.exit(main())
