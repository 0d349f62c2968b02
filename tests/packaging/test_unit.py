"""systemd/signage-agent.service: what it promises, `systemd-analyze verify`, and its
`systemd-analyze security` exposure score (2.5 or lower: "OK")."""

from __future__ import annotations

import re
import subprocess
from configparser import ConfigParser
from pathlib import Path

from tests.packaging.conftest import ROOT, BuiltPackage, need

UNIT = ROOT / "systemd" / "signage-agent.service"
PACKAGED_AGENT = "/opt/signage-agent/current/bin/signage-agent"
MAX_EXPOSURE = 2.5


def settings() -> dict[str, list[str]]:
    """Every `Key=value` of the unit, in order (a key may repeat)."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_runs_the_packaged_agent_as_a_notify_service_with_a_watchdog() -> None:
    unit = settings()
    assert unit["ExecStart"] == [f"{PACKAGED_AGENT} run"]
    assert unit["Type"] == ["notify"] and unit["WatchdogSec"] == ["30"]
    assert unit["Restart"] == ["always"] and "StartLimitBurst" in unit
    assert unit["User"] == ["signage"] and unit["StateDirectory"] == ["signage-agent"]
    # ordered after the network, but only wanted: it starts (and plays) without one
    assert unit["After"] == ["network-online.target"]
    assert unit["Wants"] == ["network-online.target"] and "Requires" not in unit
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["ProtectSystem"] == ["strict"] and "IPAddressDeny" not in unit
    parser = ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())  # sections as systemd expects
    assert parser.sections() == ["Unit", "Service", "Install"]


def test_systemd_analyze_verify_passes(amd64_deb: BuiltPackage, tmp_path: Path) -> None:
    need("systemd-analyze", "systemd")
    # verify checks that ExecStart's program exists: point it at the packaged one, extracted
    packaged = amd64_deb.env / "bin" / "signage-agent"
    unit = tmp_path / "signage-agent.service"
    unit.write_text(UNIT.read_text().replace(PACKAGED_AGENT, str(packaged)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_security_exposure_is_ok() -> None:
    need("systemd-analyze", "systemd")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for signage-agent\.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout
