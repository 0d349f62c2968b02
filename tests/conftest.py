"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cloud as cloud_support
from tests.support.cloud import RunningCloud, running_cloud


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test without proxies or SIGNAGE_* settings from the developer's shell."""
    cloud_support.clean_environ(monkeypatch)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RunningCloud]:
    """A real reference cloud on a free loopback port, with one tenant; stopped afterwards."""
    with running_cloud(tmp_path / "cloud", poll_interval=1) as running:
        yield running
