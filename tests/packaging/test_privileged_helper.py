"""The narrow path to root for reboot and display power, as packaged: the helper script,
its socket (only root and the group signage may connect) and its per-connection unit, what
`systemd-analyze` says of them, and that the package installs and enables them."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

from tests.packaging.conftest import ROOT, BuiltPackage, need

SYSTEMD = ROOT / "systemd"
SOCKET = SYSTEMD / "signage-agent-privileged.socket"
SERVICE = SYSTEMD / "signage-agent-privileged@.service"
HELPER = SYSTEMD / "signage-agent-privileged"
PACKAGED_HELPER = "/usr/libexec/signage-agent/signage-agent-privileged"
MAX_EXPOSURE = 2.5


def settings(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_only_the_agents_group_can_reach_the_helper_and_it_runs_per_connection() -> None:
    socket = settings(SOCKET)
    assert socket["ListenStream"] == ["/run/signage-agent-privileged.sock"]
    assert (socket["SocketUser"], socket["SocketGroup"], socket["SocketMode"]) == (
        ["root"], ["signage"], ["0660"],
    )  # fmt: skip
    assert socket["Accept"] == ["yes"] and socket["RemoveOnStop"] == ["yes"]
    assert socket["WantedBy"] == ["sockets.target"]
    service = settings(SERVICE)
    assert service["ExecStart"] == [PACKAGED_HELPER]  # no argument: the verb comes as a line
    assert service["StandardInput"] == service["StandardOutput"] == ["socket"]
    assert service["CapabilityBoundingSet"] == ["CAP_SYS_BOOT"]
    assert service["PrivateNetwork"] == ["yes"] and service["NoNewPrivileges"] == ["yes"]
    assert service["RefuseManualStart"] == ["yes"]
    assert "User" not in service  # root, for the three verbs only
    assert "[Install]" not in SERVICE.read_text()  # started by its socket, never enabled


def test_the_agents_own_unit_stays_unprivileged() -> None:
    agent = settings(SYSTEMD / "signage-agent.service")
    assert agent["CapabilityBoundingSet"] == [""] and agent["NoNewPrivileges"] == ["yes"]
    assert agent["User"] == ["signage"]
    assert "AF_UNIX" in agent["RestrictAddressFamilies"][0]  # how it reaches the socket


def test_systemd_analyze_verify_passes(amd64_deb: BuiltPackage, tmp_path: Path) -> None:
    need("systemd-analyze", "systemd")
    packaged = amd64_deb.root / PACKAGED_HELPER.lstrip("/")
    for unit in (SOCKET, SERVICE):
        (tmp_path / unit.name).write_text(unit.read_text().replace(PACKAGED_HELPER, str(packaged)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no",
         str(tmp_path / SOCKET.name), str(tmp_path / SERVICE.name)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_helpers_security_exposure_is_ok(tmp_path: Path) -> None:
    need("systemd-analyze", "systemd")
    instance = tmp_path / "signage-agent-privileged@1.service"
    instance.write_text(SERVICE.read_text())
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(instance)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_the_package_installs_and_enables_the_helper(amd64_deb: BuiltPackage) -> None:
    helper = amd64_deb.root / PACKAGED_HELPER.lstrip("/")
    assert helper.read_bytes() == HELPER.read_bytes()
    assert stat.S_IMODE(helper.stat().st_mode) == 0o755
    units = amd64_deb.root / "lib/systemd/system"
    for unit in (SOCKET, SERVICE):
        assert (units / unit.name).read_text() == unit.read_text()
    postinst = (amd64_deb.control / "postinst").read_text()
    assert "HELPER_SOCKET=signage-agent-privileged.socket" in postinst
    assert 'for unit in "$HELPER_SOCKET" "$SERVICE"' in postinst
    assert 'deb-systemd-invoke $_dh_action "$HELPER_SOCKET"' in postinst
    assert "stop signage-agent-privileged.socket" in (amd64_deb.control / "prerm").read_text()
    postrm = (amd64_deb.control / "postrm").read_text()
    assert 'deb-systemd-helper mask "$HELPER_SOCKET"' in postrm
    assert (amd64_deb.root / "usr/share/doc/signage-agent/commands.md").is_file()
