"""The Debian package, built once per test session, and the tools that check it.

A tool missing on a developer's machine skips the tests that need it, saying which tool and
how to get it; under CI (`CI=true`, a fresh bookworm machine bootstrapped with every tool)
a missing tool is a failure, so nothing is skipped there silently.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from agent.version import __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
IN_CI = os.environ.get("CI", "").lower() == "true"
ENV_PREFIX = Path("opt/signage-agent") / __version__


def need(tool: str, package: str) -> str:
    """The path of `tool`; skips (or, in CI, fails) the test when it is not installed."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (apt-get install {package}, or make bootstrap)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def load(name: str) -> ModuleType:
    """A module of packaging/ (scripts, not a package: a `packaging` package would shadow the
    `packaging` library that pip and pytest import)."""
    spec = importlib.util.spec_from_file_location(
        f"signage_packaging_{name}", PACKAGING / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class BuiltPackage:
    deb: Path
    root: Path  # the package's files, extracted with dpkg-deb -x
    control: Path  # its control files, extracted with dpkg-deb -e

    @property
    def env(self) -> Path:
        return self.root / ENV_PREFIX


@pytest.fixture(scope="session")
def amd64_deb(tmp_path_factory: pytest.TempPathFactory) -> BuiltPackage:
    """dist/signage-agent_<version>_amd64.deb, built afresh into a temporary folder."""
    need("dpkg-deb", "dpkg-dev")
    need("x86_64-linux-gnu-strip", "binutils")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(PACKAGING / "build_deb.py"), "--arch", "amd64", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    deb = out / f"signage-agent_{__version__}_amd64.deb"
    root, control = out / "root", out / "control"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    return BuiltPackage(deb=deb, root=root, control=control)
