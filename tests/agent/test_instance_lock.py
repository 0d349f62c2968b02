"""One agent per state folder; `status` tells whether it runs, however the last one ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import AlreadyRunning
from agent.instance_lock import InstanceLock, running_pid


def test_a_second_agent_is_refused_and_a_killed_one_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from agent.instance_lock import InstanceLock;"
         f"InstanceLock(Path({str(tmp_path)!r})).acquire(); print('held', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert running_pid(tmp_path) == holder.pid
        with pytest.raises(AlreadyRunning, match=str(holder.pid)):
            InstanceLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert running_pid(tmp_path) is None  # the kernel dropped it with the process
    lock = InstanceLock(tmp_path)
    lock.acquire()
    assert running_pid(tmp_path) == os.getpid()
    lock.release()
    lock.release()  # safe twice
    assert running_pid(tmp_path) is None
