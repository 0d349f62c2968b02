"""Install the amd64 package for real, run the agent it installed, purge it, and check that
nothing is left. This changes the machine (a user, /opt, /etc, /var/lib), so it runs only
under CI (`CI=true`, as root, on a fresh Debian bookworm machine), never on a developer's."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from agent.version import __version__
from tests.packaging.conftest import IN_CI, BuiltPackage
from tests.support.agent import wait_until
from tests.support.cloud import RunningCloud

AGENT = "/opt/signage-agent/current/bin/signage-agent"
LEFT_AFTER_PURGE = [
    "/opt/signage-agent",
    "/etc/signage-agent",
    "/var/lib/signage-agent",
    "/lib/systemd/system/signage-agent.service",
    "/usr/bin/signage-agent",
]

pytestmark = [
    pytest.mark.skipif(not IN_CI, reason="installs a package into this machine: CI only (CI=true)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root"),
]


def installed() -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "signage-agent"],
                            capture_output=True, text=True)  # fmt: skip
    return "ok installed" in result.stdout


def as_signage() -> dict[str, object]:
    """subprocess arguments that run a command as user signage, with its groups (as systemd's
    User= would), the signal going straight to the agent rather than through runuser."""
    groups = [group.gr_name for group in grp.getgrall() if "signage" in group.gr_mem]
    return {"user": "signage", "group": "signage", "extra_groups": groups,
            "env": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, "cwd": "/"}  # fmt: skip


def test_install_run_and_purge(amd64_deb: BuiltPackage, cloud: RunningCloud) -> None:
    if installed():
        pytest.fail("signage-agent is already installed on this CI machine: start from a fresh one")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    started = time.monotonic()
    result = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                             str(amd64_deb.deb)], capture_output=True, text=True, env=env,
                            timeout=600)  # fmt: skip
    install_s = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    print(f"apt-get install took {install_s:.1f} s")
    try:
        assert installed()
        version = subprocess.run([AGENT, "--version"], capture_output=True, text=True, timeout=60)
        assert version.stdout.strip() == f"signage-agent {__version__}", version.stderr
        user = pwd.getpwnam("signage")
        assert user.pw_shell == "/usr/sbin/nologin" and user.pw_uid < 1000
        assert "signage" in grp.getgrnam("video").gr_mem
        state = os.stat("/var/lib/signage-agent")
        assert stat.S_IMODE(state.st_mode) == 0o700 and state.st_uid == user.pw_uid
        if shutil.which("systemd-analyze"):
            verify = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                     "/lib/systemd/system/signage-agent.service"],
                                    capture_output=True, text=True, timeout=60)  # fmt: skip
            assert verify.returncode == 0, verify.stderr

        # a short headless run, as the service would: user signage, the packaged config and
        # state folder, against a real cloud on loopback; it enrolls and shows its code
        agent = subprocess.Popen(  # type: ignore[call-overload]
            [AGENT, "run", "--cloud", cloud.url, "--video-output", "dummy"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **as_signage(),
        )  # fmt: skip
        try:

            def code_on_screen() -> str | None:
                status = subprocess.run(  # type: ignore[call-overload]
                    [AGENT, "status", "--json"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    **as_signage(),
                )
                if status.returncode != 0:
                    return None
                return json.loads(status.stdout).get("enrollment_code")

            code = wait_until(code_on_screen, timeout=60, what="an enrollment code", interval=0.5)
            assert len(code) >= 8
        finally:
            agent.send_signal(signal.SIGTERM)
            output, _ = agent.communicate(timeout=30)
        assert agent.returncode == 0, output
        assert "Traceback" not in output
    finally:
        purge = subprocess.run(["apt-get", "purge", "-y", "-q", "signage-agent"],
                               capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not installed()
    assert [path for path in LEFT_AFTER_PURGE if Path(path).exists()] == []
    with pytest.raises(KeyError):
        pwd.getpwnam("signage")
    with pytest.raises(KeyError):
        grp.getgrnam("signage")
