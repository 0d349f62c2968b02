"""The device distribution (agent, player, sync) stands without the cloud, and its locked
wheels match pyproject.toml's dependencies."""

from __future__ import annotations

import ast
import tomllib

from packaging.requirements import Requirement

from tests.packaging.conftest import ROOT, load

wheels = load("wheels")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_device_packages_never_import_the_cloud_or_its_dependencies() -> None:
    device = PYPROJECT["tool"]["signage-agent"]["device"]
    assert "cloud" not in device["packages"]
    assert list(device["scripts"]) == ["signage-agent"]
    for package in device["packages"]:
        for source in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top not in ("cloud", "fastapi", "uvicorn", "starlette", "tests"), (
                        f"{source.relative_to(ROOT)} imports {name}: a screen does not have it"
                    )


def test_the_lock_pins_every_device_dependency_within_its_range() -> None:
    locked = wheels.locked_versions()
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        name = wheels._normalize(requirement.name)
        assert name in locked, f"{name} is not in the lock: run `make lock`"
        assert requirement.specifier.contains(locked[name]), (
            f"{name}=={locked[name]} is outside {requirement.specifier}: run `make lock`"
        )
    for cloud_only in ("fastapi", "uvicorn", "starlette", "pip"):
        assert cloud_only not in locked
