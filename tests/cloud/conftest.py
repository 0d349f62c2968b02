"""Fixtures of the cloud's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cloud.screen import Screen
from tests.support.cloud import RunningCloud


@pytest.fixture
def admin_env(cloud: RunningCloud) -> dict[str, str]:
    """The environment of `signage-cloud` admin commands on the test cloud, as its admin."""
    return {"SIGNAGE_ADMIN_URL": cloud.url, "SIGNAGE_ADMIN_KEY": cloud.admin_key}


@pytest.fixture
def screens(cloud: RunningCloud) -> Iterator[list[Screen]]:
    """Three screens enrolled in the test cloud ("Screen 0" to "Screen 2")."""
    made = [Screen(cloud.url) for _ in range(3)]
    try:
        for index, screen in enumerate(made):
            screen.enroll(cloud, name=f"Screen {index}")
        yield made
    finally:
        for screen in made:
            screen.http.close()
