"""Build dist/signage-agent_<version>_<arch>.deb: the agent in its own Python environment.

    python packaging/build_deb.py --arch arm64 [--cloud-url URL] [--out dist]

The package installs without network: the agent (agent, player, sync; never the cloud) and
every wheel it imports, built for the target's CPU, go into a virtual environment under
/opt/signage-agent/<version>/, with /opt/signage-agent/current pointing at it. The
environment is laid out by hand, not by `python -m venv`, because it must run on the
screen's Python (Debian's /usr/bin/python3, 3.11), not the one building it, and may be
built for another CPU:

    /opt/signage-agent/<version>/pyvenv.cfg          home = /usr/bin
    /opt/signage-agent/<version>/bin/python          -> /usr/bin/python3
    /opt/signage-agent/<version>/bin/signage-agent   #!/opt/signage-agent/<version>/bin/python
    /opt/signage-agent/<version>/lib/python3.11/site-packages/   the agent and its wheels

Maintainer scripts and metadata come from packaging/debian/, the unit from systemd/, and
/etc/signage-agent/agent.toml is generated from the config schema (packaging/agent_toml.py).
docs/packaging.md describes the result.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import agent_toml
import wheels

from agent.version import __version__

ROOT = Path(__file__).resolve().parents[1]
DEBIAN = ROOT / "packaging" / "debian"
PREFIX = Path("opt/signage-agent")
SITE = Path("lib/python3.11/site-packages")
UNIT_DIR = Path("lib/systemd/system")  # bookworm's debhelper still installs units here
# The root helper for reboot and display power, its socket and its per-connection unit
# (docs/commands.md): a shell script owned by the package, never code from the agent's
# environment, which a self-update replaces.
HELPER = Path("usr/libexec/signage-agent/signage-agent-privileged")
HELPER_UNITS = ["signage-agent-privileged.socket", "signage-agent-privileged@.service"]
DOC_DIR = Path("usr/share/doc/signage-agent")

# Package names that Debian bookworm and Raspberry Pi OS bookworm both provide (the latter
# with its own +rpt builds of VLC, which add the Pi's hardware decoding and drm_vout).
DEPENDS = [
    "python3 (>= 3.11)",
    "python3 (<< 3.12)",  # the bundled compiled wheels are built for CPython 3.11
    "libc6 (>= 2.28)",  # the newest manylinux tag among the bundled wheels
    "libvlc5",
    "libvlc-bin",  # vlc-cache-gen: the plugin cache makes libvlc start in milliseconds
    "vlc-plugin-base",  # decoders, the fb output, ALSA
    "vlc-plugin-video-output",  # the window (X11/Wayland) and GL outputs
    "fonts-dejavu-core",  # the on-screen messages (enrollment code) are drawn in DejaVu
    "adduser",
]

# binutils for each target; a build for the other CPU needs the cross binutils
STRIP = {"amd64": "x86_64-linux-gnu-strip", "arm64": "aarch64-linux-gnu-strip"}
STRIP_PACKAGE = {"amd64": "binutils-x86-64-linux-gnu", "arm64": "binutils-aarch64-linux-gnu"}

DOCS = [
    "README.md",
    "docs/installing.md",
    "docs/operations.md",
    "docs/packaging.md",
    "docs/commands.md",
]
SOURCE_DATE_EPOCH_DEFAULT = 1_700_000_000


class BuildError(Exception):
    """The package cannot be built; the message says why and what to do."""


def device_table() -> dict[str, object]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["signage-agent"]["device"]


def check_changelog() -> None:
    first = (DEBIAN / "changelog").read_text(encoding="utf-8").splitlines()[0]
    match = re.match(r"signage-agent \(([^)]+)\)", first)
    if not match or match.group(1) != __version__:
        raise BuildError(
            f"packaging/debian/changelog starts with {first!r}, but agent/version.py says "
            f"{__version__}: add a changelog entry for {__version__}"
        )


def install_wheels(arch: str, site: Path) -> None:
    """The locked wheels for `arch` into `site`, verified against the lock's hashes."""
    site.mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-compile", "--require-hashes", "--target", str(site),
         *wheels.pip_target_flags(arch), "-r", str(wheels.LOCK)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise BuildError(f"pip could not install the locked wheels for {arch}:\n{result.stderr}")
    # console scripts pip wrote for the build machine's Python; the package has its own
    shutil.rmtree(site / "bin", ignore_errors=True)


def copy_agent(site: Path, packages: list[str]) -> list[Path]:
    copied = []
    for package in packages:
        for source in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" in source.parts:
                continue
            target = site / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied.append(target)
    return copied


def write_dist_info(site: Path, files: list[Path], scripts: dict[str, str]) -> None:
    """Metadata so that importlib.metadata (and pip, on the device) know the agent."""
    info = site / f"signage_agent-{__version__}.dist-info"
    info.mkdir()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    metadata = [
        "Metadata-Version: 2.1",
        "Name: signage-agent",
        f"Version: {__version__}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        *[f"Requires-Dist: {requirement}" for requirement in project["dependencies"]],
    ]
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    entry_points = ["[console_scripts]", *[f"{n} = {t}" for n, t in scripts.items()]]
    (info / "entry_points.txt").write_text("\n".join(entry_points) + "\n", encoding="utf-8")
    (info / "INSTALLER").write_text("signage-agent-deb\n", encoding="utf-8")
    record = []
    for path in [*files, info / "METADATA", info / "entry_points.txt", info / "INSTALLER"]:
        digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest())
        record.append(f"{path.relative_to(site)},sha256={digest.decode().rstrip('=')},"
                      f"{path.stat().st_size}")  # fmt: skip
    record.append(f"{info.relative_to(site)}/RECORD,,")
    (info / "RECORD").write_text("\n".join(record) + "\n", encoding="utf-8")


def make_environment(root: Path, arch: str) -> Path:
    """The virtual environment under root/opt/signage-agent/<version>/; returns its path."""
    env = root / PREFIX / __version__
    installed = Path("/") / PREFIX / __version__
    site = env / SITE
    install_wheels(arch, site)
    device = device_table()
    scripts: dict[str, str] = dict(device["scripts"])  # type: ignore[arg-type]
    files = copy_agent(site, list(device["packages"]))  # type: ignore[arg-type]
    write_dist_info(site, files, scripts)
    (env / "pyvenv.cfg").write_text(
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n"
        f"# signage-agent {__version__}: laid out by packaging/build_deb.py\n",
        encoding="utf-8",
    )
    bin_dir = env / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to("/usr/bin/python3")  # the screen's Python, not ours
    (bin_dir / "python3").symlink_to("python")
    (bin_dir / "python3.11").symlink_to("python")
    for name, target in scripts.items():
        module, function = target.split(":")
        wrapper = bin_dir / name
        wrapper.write_text(
            f"#!{installed}/bin/python\n"
            "import sys\n"
            f"from {module} import {function}\n\n"
            'if __name__ == "__main__":\n'
            f"    sys.exit({function}())\n",
            encoding="utf-8",
        )
        wrapper.chmod(0o755)
    (root / PREFIX / "current").symlink_to(__version__)
    strip_binaries(site, arch)
    compile_bytecode(site)
    return env


def strip_binaries(site: Path, arch: str) -> None:
    """Strip the wheels' shared objects as dh_strip would (about a sixth of their size)."""
    strip = shutil.which(STRIP[arch])
    if strip is None:
        raise BuildError(
            f"{STRIP[arch]} is missing: apt-get install {STRIP_PACKAGE[arch]} (make bootstrap does)"
        )
    for path in sorted(site.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:4] == b"\x7fELF":
            subprocess.run(
                [strip, "--strip-unneeded", "--remove-section=.comment",
                 "--remove-section=.note", str(path)],
                check=True,
            )  # fmt: skip


def compile_bytecode(site: Path) -> None:
    """Bytecode made at build time: /opt is read-only to the service, so it cannot cache it.

    unchecked-hash .pyc files are used without comparing timestamps (the files never change
    under a package); CPython 3.11's bytecode is the same on every CPU.
    """
    if sys.version_info[:2] != (3, 11):
        raise BuildError(f"build with Python 3.11 (the screen's), not {sys.version.split()[0]}")
    result = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
         "unchecked-hash", "-d", "/", str(site)],
        capture_output=True, text=True,
    )  # fmt: skip
    # a few test and template files in the wheels are not Python 3.11 source; skip them
    if result.returncode not in (0, 1):
        raise BuildError(f"compileall failed:\n{result.stdout}{result.stderr}")


def install_files(root: Path, cloud_url: str | None) -> list[str]:
    """Unit, config, docs and lintian overrides; returns the conffiles."""
    unit = root / UNIT_DIR / "signage-agent.service"
    unit.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / "systemd" / "signage-agent.service", unit)
    for name in HELPER_UNITS:
        shutil.copyfile(ROOT / "systemd" / name, root / UNIT_DIR / name)
    helper = root / HELPER
    helper.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / "systemd" / HELPER.name, helper)

    config = root / "etc/signage-agent/agent.toml"
    config.parent.mkdir(parents=True)
    config.write_text(agent_toml.conffile(cloud_url), encoding="utf-8")

    docs = root / DOC_DIR
    docs.mkdir(parents=True)
    shutil.copyfile(DEBIAN / "copyright", docs / "copyright")
    for name in DOCS:
        shutil.copyfile(ROOT / name, docs / Path(name).name)
    with gzip.GzipFile(docs / "changelog.gz", "wb", compresslevel=9, mtime=0) as out:
        out.write((DEBIAN / "changelog").read_bytes())

    usr_bin = root / "usr/bin"
    usr_bin.mkdir(parents=True)
    (usr_bin / "signage-agent").symlink_to(f"/{PREFIX}/current/bin/signage-agent")
    man = root / "usr/share/man/man1/signage-agent.1.gz"
    man.parent.mkdir(parents=True)
    page = (DEBIAN / "signage-agent.1").read_text(encoding="utf-8")
    page = page.replace("@VERSION@", __version__)
    with gzip.GzipFile(man, "wb", compresslevel=9, mtime=0) as out:
        out.write(page.encode())

    overrides = root / "usr/share/lintian/overrides/signage-agent"
    overrides.parent.mkdir(parents=True)
    shutil.copyfile(DEBIAN / "lintian-overrides", overrides)
    return ["/etc/signage-agent/agent.toml"]


def normalize(root: Path, epoch: int) -> None:
    """Modes a package should have, and one timestamp, so two builds give the same files."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_symlink():
            os.utime(path, (epoch, epoch), follow_symlinks=False)
            continue
        if path.is_dir():
            path.chmod(0o755)
        elif path.parent.name == "bin" or path == root / HELPER:
            path.chmod(0o755)  # the environment's console scripts, the privileged helper
        else:
            path.chmod(0o644)  # everything else, shared objects included, is data
        os.utime(path, (epoch, epoch))
    root.chmod(0o755)


def write_control(root: Path, arch: str, conffiles: list[str]) -> None:
    control_dir = root / "DEBIAN"
    control_dir.mkdir()
    size_kib = sum(
        (p.lstat().st_size + 1023) // 1024 for p in root.rglob("*") if not p.is_dir()
    ) + sum(1 for p in root.rglob("*") if p.is_dir())
    control = (DEBIAN / "control.in").read_text(encoding="utf-8")
    for field, value in {
        "@VERSION@": __version__,
        "@ARCH@": arch,
        "@INSTALLED_SIZE@": str(size_kib),
        "@DEPENDS@": ", ".join(DEPENDS),
    }.items():
        control = control.replace(field, value)
    (control_dir / "control").write_text(control, encoding="utf-8")
    (control_dir / "conffiles").write_text("\n".join(conffiles) + "\n", encoding="utf-8")
    for script in ("postinst", "prerm", "postrm"):
        shutil.copyfile(DEBIAN / script, control_dir / script)
        (control_dir / script).chmod(0o755)
    sums = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(root)
        if relative.parts[0] != "DEBIAN" and f"/{relative}" not in conffiles:
            sums.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {relative}")  # noqa: S324 (dpkg's format)
    (control_dir / "md5sums").write_text("\n".join(sums) + "\n", encoding="utf-8")


def build(arch: str, out: Path, cloud_url: str | None = None) -> Path:
    if arch not in wheels.ARCHES:
        raise BuildError(f"unknown architecture {arch!r}: use one of {', '.join(wheels.ARCHES)}")
    check_changelog()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH_DEFAULT))
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"signage-agent_{__version__}_{arch}.deb"
    with tempfile.TemporaryDirectory(prefix="signage-deb-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        make_environment(root, arch)
        conffiles = install_files(root, cloud_url)
        normalize(root, epoch)
        write_control(root, arch, conffiles)
        normalize(root / "DEBIAN", epoch)
        for script in ("postinst", "prerm", "postrm"):
            (root / "DEBIAN" / script).chmod(0o755)
        result = subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
            capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
        )  # fmt: skip
        if result.returncode != 0:
            raise BuildError(f"dpkg-deb failed:\n{result.stderr}")
    return deb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True, choices=sorted(wheels.ARCHES))
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument(
        "--cloud-url", help="set cloud_url in agent.toml: a package for one cloud's screens"
    )
    args = parser.parse_args(argv)
    if shutil.which("dpkg-deb") is None:
        print("build_deb.py: dpkg-deb is missing (apt-get install dpkg-dev)", file=sys.stderr)
        return 1
    try:
        deb = build(args.arch, args.out, args.cloud_url)
    except (BuildError, agent_toml.UndocumentedKey) as exc:
        print(f"build_deb.py: {exc}", file=sys.stderr)
        return 1
    print(f"{deb.relative_to(ROOT) if deb.is_relative_to(ROOT) else deb}: "
          f"{deb.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
