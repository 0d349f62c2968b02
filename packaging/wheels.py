"""The device's Python dependencies, as wheels for a target architecture.

A screen installs the Debian package without network, so the package carries every wheel
the agent imports, built for the screen's CPU, Python (Debian bookworm's 3.11) and C
library (glibc 2.36). This module knows the pip flags that select those wheels and keeps
the lock file: exact versions with the sha256 of each architecture's wheel, so a build
installs exactly what was reviewed.

    python packaging/wheels.py lock      # re-resolve [project] dependencies, rewrite the lock

`make lock` runs it; commit the lock it writes.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "packaging" / "requirements-device.lock"

PYTHON_VERSION = "3.11"  # Debian bookworm and Raspberry Pi OS bookworm: python3 3.11
GLIBC_MAX = 36  # bookworm's glibc 2.36: the newest manylinux wheel a screen can load

# Debian architecture -> the CPU name in manylinux wheel tags
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}

# Required by a dependency for a command the agent never runs (sqlite-utils' `install`
# subcommand shells out to pip); a screen must not carry a package installer.
EXCLUDED = {"pip"}


def pip_target_flags(arch: str) -> list[str]:
    """pip flags that select wheels for `arch` (a Debian architecture name) on bookworm."""
    cpu = ARCHES[arch]
    platforms = [f"manylinux2014_{cpu}"]
    platforms += [f"manylinux_2_{minor}_{cpu}" for minor in range(17, GLIBC_MAX + 1)]
    flags = [f"--platform={platform}" for platform in platforms]
    flags += [
        f"--python-version={PYTHON_VERSION}",
        "--implementation=cp",
        "--abi=cp311",
        "--abi=abi3",
        "--abi=none",
        "--only-binary=:all:",
    ]
    return flags


def device_dependencies() -> list[str]:
    """The `[project] dependencies` of pyproject.toml: what the device distribution needs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _resolve(arch: str, folder: Path) -> dict[str, tuple[str, str]]:
    """{name: (version, sha256)} of the wheels pip picks for `arch`, downloaded into `folder`."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--dest", str(folder), *pip_target_flags(arch), *device_dependencies()],
        check=True,
    )  # fmt: skip
    found: dict[str, tuple[str, str]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        found[_normalize(name)] = (version, digest)
    return {name: pinned for name, pinned in found.items() if name not in EXCLUDED}


def write_lock() -> None:
    per_arch: dict[str, dict[str, tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHES:
            per_arch[arch] = _resolve(arch, Path(tmp) / arch)
    names = {name for pins in per_arch.values() for name in pins}
    lines = [
        "# The device's Python dependencies, pinned, with the sha256 of each architecture's wheel.",
        "# Generated from pyproject.toml's [project] dependencies by `make lock`; do not edit.",
    ]
    for name in sorted(names):
        versions = {arch: pins[name][0] for arch, pins in per_arch.items() if name in pins}
        if len(set(versions.values())) != 1 or len(versions) != len(ARCHES):
            sys.exit(f"wheels.py: {name} resolves differently per architecture: {versions}")
        hashes = sorted({pins[name][1] for pins in per_arch.values()})
        lines.append(f"{name}=={next(iter(versions.values()))} \\")
        lines.extend(f"    --hash=sha256:{digest}" + (" \\" if i < len(hashes) - 1 else "")
                     for i, digest in enumerate(hashes))  # fmt: skip
    LOCK.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {LOCK.relative_to(ROOT)}: {len(names)} packages for {', '.join(ARCHES)}")


def locked_versions() -> dict[str, str]:
    """{normalized name: version} from the lock file."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", LOCK.read_text(encoding="utf-8"), re.M)
    return {_normalize(name): version for name, version in pins}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["lock"])
    parser.parse_args(argv)
    write_lock()
    return 0


if __name__ == "__main__":
    sys.exit(main())
