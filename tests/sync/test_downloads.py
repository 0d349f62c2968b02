"""Blob downloads from the real cloud: verified, resumed, and refused when the bytes are wrong."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import httpx
import pytest

from sync.downloads import download_blob
from sync.errors import HashMismatch
from tests.support.cloud import RunningCloud
from tests.support.device import enroll, upload

BLOB = bytes(range(256)) * 4096  # 1 MiB, every byte value
SHA = hashlib.sha256(BLOB).hexdigest()


class CorruptingTransport(httpx.AsyncBaseTransport):
    """Fault injection at the transport boundary: flips one byte of every blob body in transit."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        if "/blobs/" not in request.url.path:
            return response
        body = bytearray(await response.aread())
        body[len(body) // 2] ^= 0xFF
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body))

    async def aclose(self) -> None:
        await self._real.aclose()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "content"


async def test_a_blob_is_downloaded_verified_and_kept_once(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.mp4", BLOB, "video/mp4")
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        path = await download_blob(client, SHA, cache)
        assert path == cache / SHA
        assert path.read_bytes() == BLOB
        assert not (cache / f"{SHA}.part").exists()
        mtime = path.stat().st_mtime_ns
        assert await download_blob(client, SHA, cache) == path
        assert path.stat().st_mtime_ns == mtime  # not fetched again


async def test_a_partial_download_is_resumed_from_where_it_stopped(
    cloud: RunningCloud, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upload(cloud, "blob.mp4", BLOB, "video/mp4")
    cache.mkdir()
    (cache / f"{SHA}.part").write_bytes(BLOB[:300_000])
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        with caplog.at_level(logging.INFO, logger="sync.downloads"):
            path = await download_blob(client, SHA, cache)
    assert path.read_bytes() == BLOB
    assert "resumed blob" in caplog.text and "from byte 300000" in caplog.text


async def test_a_corrupt_partial_file_is_discarded_and_the_next_attempt_succeeds(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.mp4", BLOB, "video/mp4")
    cache.mkdir()
    (cache / f"{SHA}.part").write_bytes(b"\x00" * 300_000)  # e.g. a disk that lied
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        with pytest.raises(HashMismatch, match="discarded"):
            await download_blob(client, SHA, cache)
        assert not (cache / SHA).exists()
        assert not (cache / f"{SHA}.part").exists()
        assert (await download_blob(client, SHA, cache)).read_bytes() == BLOB


async def test_bytes_altered_in_transit_never_reach_the_cache(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.mp4", BLOB, "video/mp4")
    async with httpx.AsyncClient(transport=CorruptingTransport()) as http:
        client = await enroll(cloud, http)
        with pytest.raises(HashMismatch, match=f"blob {SHA[:12]} arrived with sha256"):
            await download_blob(client, SHA, cache)
    assert not cache.exists() or list(cache.iterdir()) == []
