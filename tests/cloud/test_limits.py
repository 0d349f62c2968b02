"""Request bodies above their limit are refused with 413 before they are read whole."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sync.models import ADMIN_PREFIX, DEVICE_PREFIX
from tests.cloud.screen import PNG_1X1
from tests.support.cloud import RunningCloud, running_cloud

FORM = "application/x-www-form-urlencoded"


def raw_request(cloud: RunningCloud, head: str, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send `head` (and `body`) on a socket; the answer's status, headers and body.

    A real client of a body this large would still be sending it: the point is that the
    cloud answers without waiting for it.
    """
    url = urlsplit(cloud.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, f"the cloud closed the connection without answering: {answer!r}"
            answer += chunk
        head_bytes, _, rest = answer.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, rest


def test_a_huge_declared_form_body_is_refused_before_it_is_sent(cloud: RunningCloud) -> None:
    head = (
        f"POST {DEVICE_PREFIX}/authorize HTTP/1.1\nHost: test\nContent-Type: {FORM}\n"
        f"Content-Length: {600 * 1024 * 1024}\n"
    )
    status, headers, body = raw_request(cloud, head)
    assert status == 413
    answer = json.loads(body)
    assert "larger than 65536 bytes" in answer["detail"]
    assert answer["error"] == "invalid_request"  # an OAuth error body on the device API
    assert headers.get("dpop-nonce")  # like every device API answer


def chunks(size: int, count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield b"a" * size


def test_a_chunked_form_body_is_cut_off_at_the_limit(cloud: RunningCloud) -> None:
    with httpx.Client(base_url=cloud.url, timeout=30) as http:
        response = http.post(
            f"{DEVICE_PREFIX}/token",
            content=chunks(16 * 1024, 64),  # 1 MiB without a Content-Length
            headers={"Content-Type": FORM},
        )
    assert response.status_code == 413, response.text
    assert "65536" in response.json()["detail"]


def test_a_small_form_body_still_works(cloud: RunningCloud) -> None:
    with httpx.Client(base_url=cloud.url, timeout=30) as http:
        response = http.post(
            f"{DEVICE_PREFIX}/authorize", content=chunks(10, 3), headers={"Content-Type": FORM}
        )
    # Read whole, then refused for what it lacks: a proof.
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"


def test_an_admin_json_body_above_its_limit_is_refused(cloud: RunningCloud) -> None:
    with cloud.admin() as admin:
        response = admin.post(
            f"{ADMIN_PREFIX}/playlists",
            content=b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert "larger than 4194304 bytes" in response.json()["detail"]


@pytest.fixture
def small_uploads(tmp_path: Path) -> Iterator[RunningCloud]:
    with running_cloud(tmp_path / "cloud", env={"SIGNAGE_CLOUD_MAX_UPLOAD_BYTES": "1K"}) as running:
        yield running


def leftovers(cloud: RunningCloud) -> list[Path]:
    blobs = cloud.data_dir / "blobs"
    return [path for path in blobs.rglob("*") if path.is_file()]


def test_the_upload_limit_is_a_setting(small_uploads: RunningCloud) -> None:
    cloud = small_uploads
    with cloud.admin() as admin:
        fits = admin.post(
            f"{ADMIN_PREFIX}/assets",
            params={"name": "a.png"},
            content=PNG_1X1.ljust(1024, b"\0"),
            headers={"Content-Type": "image/png"},
        )
        assert fits.status_code == 200, fits.text
        assert fits.json()["sha256"] == hashlib.sha256(PNG_1X1.ljust(1024, b"\0")).hexdigest()
        declared = admin.post(
            f"{ADMIN_PREFIX}/assets",
            params={"name": "b.png"},
            content=b"y" * 1025,
            headers={"Content-Type": "image/png"},
        )
        assert declared.status_code == 413
        assert "SIGNAGE_CLOUD_MAX_UPLOAD_BYTES" in declared.json()["detail"]
        streamed = admin.post(
            f"{ADMIN_PREFIX}/assets",
            params={"name": "c.png"},
            content=chunks(300, 10),
            headers={"Content-Type": "image/png"},
        )
        assert streamed.status_code == 413, streamed.text
    assert len(leftovers(cloud)) == 1  # the upload that fitted; nothing half-written
    assert "Traceback" not in cloud.log()


def test_an_unreadable_limit_stops_the_cloud_with_one_line(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="SIGNAGE_CLOUD_MAX_UPLOAD_BYTES") as failed,
        running_cloud(tmp_path / "cloud", env={"SIGNAGE_CLOUD_MAX_UPLOAD_BYTES": "lots"}),
    ):
        pass
    assert "Traceback" not in str(failed.value)
