"""What the cloud keeps is private: a 0700 data dir, a 0600 database, no codes in its log."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from cloud.enrollment import loggable_code, normalize_user_code
from cloud.store import Database
from tests.cloud.screen import Screen
from tests.support.cloud import RunningCloud
from tests.support.device import approve


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_and_the_database_are_private(cloud: RunningCloud) -> None:
    with cloud.admin() as admin:
        assert admin.get("/api/v3/admin/devices").status_code == 200
    assert mode(cloud.data_dir) == 0o700
    for name in ("cloud.db", "cloud.db-wal", "cloud.db-shm", "signing-key.pem"):
        assert mode(cloud.data_dir / name) == 0o600, name


def test_a_data_dir_made_before_is_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    (data_dir / "cloud.db").touch(mode=0o644)
    data_dir.chmod(0o755)
    (data_dir / "cloud.db").chmod(0o644)
    Database(data_dir / "cloud.db").close()
    assert (mode(data_dir), mode(data_dir / "cloud.db")) == (0o700, 0o600)


def test_the_log_never_shows_a_code_in_full(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen, httpx.Client(base_url=cloud.url) as browser:
        grant = screen.authorize()
        waiting = screen.authorize()  # a code nobody approves: the one to protect
        assert browser.get("/activate", params={"user_code": waiting.user_code}).is_success
        with cloud.admin() as admin:
            wrong = admin.post(
                f"/api/v3/admin/enrollments/{waiting.user_code}X/approve", json={"name": "x"}
            )
            assert wrong.status_code == 404
        approve(cloud, grant.user_code)
    log = cloud.log()
    for code in (grant.user_code, waiting.user_code):
        assert code not in log
        assert normalize_user_code(code) not in log
    assert loggable_code(grant.user_code) in log  # what a person can match lines with
    assert f"/activate?user_code={loggable_code(waiting.user_code)}" in log
