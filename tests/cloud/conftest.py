"""Fixtures of the cloud's tests."""

from __future__ import annotations

import pytest

from tests.support.cloud import RunningCloud


@pytest.fixture
def admin_env(cloud: RunningCloud) -> dict[str, str]:
    """The environment of `signage-cloud` admin commands on the test cloud, as its admin."""
    return {"SIGNAGE_ADMIN_URL": cloud.url, "SIGNAGE_ADMIN_KEY": cloud.admin_key}
