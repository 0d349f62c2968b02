"""Fixtures shared by every test package, and the order the suite runs in.

`make test` runs the suite on several processes (pytest-xdist, `--dist loadgroup`): each
test goes to the next free worker, so the longest end-to-end tests are put first, where they
overlap with the many short ones instead of holding up the end; and the packaging tests,
which share one built package per worker, stay together on one worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cloud as cloud_support
from tests.support.cloud import RunningCloud, running_cloud

# The files whose tests take longest (`pytest --durations`): run first.
LONGEST_FIRST = (
    "tests/agent/test_schedule_end_to_end.py",
    "tests/agent/test_proof_of_play.py",
    "tests/agent/test_commands_end_to_end.py",
    "tests/agent/test_hostile_cloud.py",
    "tests/agent/test_durability.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its place
    for item in items:
        if item.nodeid.startswith("tests/packaging/"):
            item.add_marker(pytest.mark.xdist_group("packaging"))


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test without proxies or SIGNAGE_* settings from the developer's shell."""
    cloud_support.clean_environ(monkeypatch)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RunningCloud]:
    """A real reference cloud on a free loopback port, with one tenant; stopped afterwards."""
    with running_cloud(tmp_path / "cloud", poll_interval=1) as running:
        yield running
