"""The built amd64 package: its metadata, layout, maintainer scripts, lintian, and that the
agent in it runs on this machine's Python (Debian bookworm's /usr/bin/python3 is 3.11)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.version import __version__
from tests.packaging.conftest import ENV_PREFIX, ROOT, BuiltPackage, need

SITE = Path("lib/python3.11/site-packages")


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_control_names_the_version_architecture_and_what_a_screen_needs(
    amd64_deb: BuiltPackage,
) -> None:
    assert field(amd64_deb.deb, "Package") == "signage-agent"
    assert field(amd64_deb.deb, "Version") == __version__
    assert field(amd64_deb.deb, "Architecture") == "amd64"
    depends = [part.strip() for part in field(amd64_deb.deb, "Depends").split(",")]
    for needed in ("python3 (>= 3.11)", "python3 (<< 3.12)", "libvlc5", "vlc-plugin-base",
                   "vlc-plugin-video-output", "fonts-dejavu-core", "adduser"):  # fmt: skip
        assert needed in depends
    info = subprocess.run(["dpkg-deb", "--info", str(amd64_deb.deb)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    for script in ("postinst", "prerm", "postrm", "conffiles", "md5sums"):
        assert re.search(rf"\b{script}\b", info), f"{script} missing from the control archive"


def test_the_agent_lives_in_its_own_environment_with_a_current_link(
    amd64_deb: BuiltPackage,
) -> None:
    env = amd64_deb.env
    assert os.readlink(amd64_deb.root / "opt/signage-agent/current") == __version__
    assert os.readlink(env / "bin/python") == "/usr/bin/python3"  # the screen's Python
    assert "home = /usr/bin" in (env / "pyvenv.cfg").read_text()
    wrapper = env / "bin/signage-agent"
    assert wrapper.read_text().startswith(f"#!/{ENV_PREFIX}/bin/python\n")
    assert wrapper.stat().st_mode & stat.S_IXUSR
    assert os.readlink(amd64_deb.root / "usr/bin/signage-agent") == (
        "/opt/signage-agent/current/bin/signage-agent"
    )
    site = env / SITE
    for module in ("agent/cli.py", "player/engine.py", "sync/client.py", "vlc.py"):
        assert (site / module).is_file(), module
    assert (site / f"signage_agent-{__version__}.dist-info/entry_points.txt").is_file()
    unit = amd64_deb.root / "lib/systemd/system/signage-agent.service"
    assert unit.read_text() == (ROOT / "systemd/signage-agent.service").read_text()


def test_the_device_package_carries_no_cloud(amd64_deb: BuiltPackage) -> None:
    listing = subprocess.run(["dpkg-deb", "--contents", str(amd64_deb.deb)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    site = f"./{ENV_PREFIX}/{SITE}/"
    top_level = {line.split(site, 1)[1].split("/")[0].split(" ")[0]
                 for line in listing.splitlines() if site in line}  # fmt: skip
    top_level.discard("")
    for unwanted in ("cloud", "fastapi", "uvicorn", "starlette", "pip", "signage_cloud"):
        assert not any(name == unwanted or name.startswith(f"{unwanted}-")
                       for name in top_level), f"{unwanted} is in the device package"  # fmt: skip
    assert {"agent", "player", "sync", "httpx", "pydantic", "pydantic_core", "jwt",
            "cryptography", "sqlite_utils", "PIL"} <= top_level  # fmt: skip


def test_conffile_and_maintainer_scripts(amd64_deb: BuiltPackage) -> None:
    control = amd64_deb.control
    assert (control / "conffiles").read_text().split() == ["/etc/signage-agent/agent.toml"]
    assert (amd64_deb.root / "etc/signage-agent/agent.toml").is_file()
    for script in ("postinst", "prerm", "postrm"):
        path = control / script
        assert path.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
        subprocess.run(["sh", "-n", str(path)], check=True)  # parses as POSIX sh
    postinst = (control / "postinst").read_text()
    assert "adduser --system" in postinst and "install -d -m 0700" in postinst
    assert "deb-systemd-helper enable" in postinst and "deb-systemd-invoke" in postinst
    assert "[ -d /run/systemd/system ]" in postinst  # no start where systemd does not run
    postrm = (control / "postrm").read_text()
    assert "rm -rf /var/lib/signage-agent" in postrm and "deluser" in postrm
    assert "deb-systemd-invoke stop" in (control / "prerm").read_text()


def test_lintian_reports_no_errors_or_warnings(amd64_deb: BuiltPackage) -> None:
    need("lintian", "lintian")
    result = subprocess.run(["lintian", "--fail-on", "error,warning", str(amd64_deb.deb)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    problems = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert result.returncode == 0 and not problems, "\n".join(problems) or result.stderr


def system_python_is_311() -> bool:
    python = Path("/usr/bin/python3")
    if not python.exists():
        return False
    version = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    return version == "(3, 11)"


@pytest.mark.skipif(not system_python_is_311(), reason="/usr/bin/python3 is not 3.11 (bookworm's)")
def test_the_packaged_agent_runs_on_the_system_python(
    amd64_deb: BuiltPackage, tmp_path: Path
) -> None:
    env = amd64_deb.env
    python, agent = str(env / "bin/python"), str(env / "bin/signage-agent")

    def run(*args: str) -> str:
        # from an empty folder, so that nothing of this checkout can be imported by accident
        result = subprocess.run([python, *args], capture_output=True, text=True, timeout=60,
                                env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert run(agent, "--version").strip() == f"signage-agent {__version__}"
    config = amd64_deb.root / "etc/signage-agent/agent.toml"
    printed = run(agent, "config", "--config", str(config), "--state-dir", str(tmp_path))
    assert "cloud_url = http://127.0.0.1:8080" in printed
    # every compiled module loads (they were stripped) and the packaged Python is the one used
    probe = run(
        "-c",
        "import sys, PIL._imaging, PIL._imagingft, cryptography.hazmat.bindings."
        "_rust, pydantic_core, vlc, agent.cli; print(sys.prefix, agent.cli.__file__)",
    )
    assert probe.split() == [str(env), str(env / SITE / "agent/cli.py")]
    assert sys.prefix not in probe


def test_both_architectures_lock_the_same_versions() -> None:
    lock = (ROOT / "packaging/requirements-device.lock").read_text()
    for compiled in ("cryptography", "pydantic-core", "pillow", "cffi"):
        entry = re.search(
            rf"^{compiled}==\S+ \\\n((?:    --hash=sha256:\w+(?: \\)?\n)+)", lock, re.M
        )
        assert entry and entry.group(1).count("--hash") == 2, f"{compiled}: one hash per arch"
