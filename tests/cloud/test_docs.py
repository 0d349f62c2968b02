"""docs/device-api.md (and docs/cloud.md) cover every endpoint, command and setting of the cloud."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from cloud import admin_api, device_api
from cloud.cli import build_parser
from sync.models import ADMIN_PREFIX

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "device-api.md").read_text()
# Settings of the cloud's limits are documented beside what they protect.
CLOUD_DOC = (ROOT / "docs" / "cloud.md").read_text()


def commands(parser: argparse.ArgumentParser, prefix: str = "signage-cloud") -> Iterator[str]:
    """Every runnable command line, e.g. `signage-cloud enroll approve`."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield prefix
        return
    for name, child in subparsers[0].choices.items():
        yield from commands(child, f"{prefix} {name}")


def routes() -> Iterator[str]:
    for route in [*device_api.router.routes, *admin_api.router.routes]:
        assert isinstance(route, APIRoute)
        yield route.path.removeprefix(ADMIN_PREFIX)


@pytest.mark.parametrize("path", list(routes()))
def test_every_endpoint_is_documented(path: str) -> None:
    assert path in DOC


@pytest.mark.parametrize("command", list(commands(build_parser())))
def test_every_cli_command_is_documented(command: str) -> None:
    assert command in DOC


def settings_in_code() -> set[str]:
    source = "".join(path.read_text() for path in (ROOT / "cloud").glob("*.py"))
    return set(re.findall(r"SIGNAGE_[A-Z_]+[A-Z]", source))


@pytest.mark.parametrize("variable", sorted(settings_in_code()))
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in DOC + CLOUD_DOC
