"""Blob downloads from the real cloud: verified, resumed, and refused when the bytes are wrong.

Faults the real cloud cannot produce (bytes altered in transit, a body longer than the
asset's size, a connection that drops) are injected by a transport wrapped around the real
one: the cloud, the client and the download code are all real.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from sync.downloads import download_blob
from sync.errors import (
    BlobUnavailable,
    DownloadError,
    DownloadInterrupted,
    HashMismatch,
    SizeMismatch,
)
from tests.cloud.screen import PNG_1X1
from tests.support.cloud import RunningCloud
from tests.support.device import enroll, upload

# 1 MiB, every byte value, that the cloud accepts as a picture (a PNG, then bytes after
# its end, which decoders ignore)
BLOB = PNG_1X1 + bytes(range(256)) * 4096
SHA = hashlib.sha256(BLOB).hexdigest()
SIZE = len(BLOB)


class BlobBodyTransport(httpx.AsyncBaseTransport):
    """The real transport, with every blob body replaced by `rewrite(real body)`."""

    def __init__(self, rewrite: Callable[[bytes], AsyncIterator[bytes]]) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self._rewrite = rewrite

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        if "/blobs/" not in request.url.path or response.status_code not in (200, 206):
            return response
        body = await response.aread()
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=self._rewrite(body))

    async def aclose(self) -> None:
        await self._real.aclose()


async def flipped(body: bytes) -> AsyncIterator[bytes]:
    corrupt = bytearray(body)
    corrupt[len(corrupt) // 2] ^= 0xFF
    yield bytes(corrupt)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "content"


async def test_a_blob_is_downloaded_verified_and_kept_once(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        path = await download_blob(client, SHA, cache, size=SIZE)
        assert path == cache / SHA
        assert path.read_bytes() == BLOB
        assert not (cache / f"{SHA}.part").exists()
        mtime = path.stat().st_mtime_ns
        assert await download_blob(client, SHA, cache, size=SIZE) == path
        assert path.stat().st_mtime_ns == mtime  # not fetched again


async def test_a_partial_download_is_resumed_from_where_it_stopped(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")
    cache.mkdir()
    (cache / f"{SHA}.part").write_bytes(BLOB[:300_000])
    received: list[int] = []

    async def counted(body: bytes) -> AsyncIterator[bytes]:
        received.append(len(body))
        yield body

    async with httpx.AsyncClient(transport=BlobBodyTransport(counted)) as http:
        client = await enroll(cloud, http)
        path = await download_blob(client, SHA, cache, size=SIZE)
    assert path.read_bytes() == BLOB
    assert received == [SIZE - 300_000]  # only the rest was asked for


async def test_a_connection_lost_mid_blob_keeps_the_part_for_the_next_attempt(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")

    async def cut_off(body: bytes) -> AsyncIterator[bytes]:
        yield body[:400_000]
        raise httpx.ReadError("connection reset by peer")

    async with httpx.AsyncClient(transport=BlobBodyTransport(cut_off)) as http:
        client = await enroll(cloud, http)
        with pytest.raises(DownloadInterrupted, match=f"^blob {SHA[:12]}: download interrupted"):
            await download_blob(client, SHA, cache, size=SIZE)
    kept = (cache / f"{SHA}.part").read_bytes()
    assert 0 < len(kept) <= 400_000 and BLOB.startswith(kept)  # whole chunks of the real bytes
    assert not (cache / SHA).exists()

    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        assert (await download_blob(client, SHA, cache, size=SIZE)).read_bytes() == BLOB


async def test_a_corrupt_partial_file_is_discarded_and_the_next_attempt_succeeds(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")
    cache.mkdir()
    (cache / f"{SHA}.part").write_bytes(b"\x00" * 300_000)  # e.g. a disk that lied
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        with pytest.raises(HashMismatch, match="discarded"):
            await download_blob(client, SHA, cache, size=SIZE)
        assert not (cache / SHA).exists()
        assert not (cache / f"{SHA}.part").exists()
        assert (await download_blob(client, SHA, cache, size=SIZE)).read_bytes() == BLOB


async def test_bytes_altered_in_transit_never_reach_the_cache(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")
    async with httpx.AsyncClient(transport=BlobBodyTransport(flipped)) as http:
        client = await enroll(cloud, http)
        with pytest.raises(HashMismatch, match=f"blob {SHA[:12]} arrived with sha256"):
            await download_blob(client, SHA, cache, size=SIZE)
    assert not cache.exists() or list(cache.iterdir()) == []


async def test_a_body_longer_than_announced_is_cut_off_at_once_and_deleted(
    cloud: RunningCloud, cache: Path
) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")
    sent: list[int] = []

    async def endless(body: bytes) -> AsyncIterator[bytes]:
        yield body
        while True:  # 250 MB and more, if anyone kept reading
            sent.append(64 * 1024)
            yield b"\x00" * (64 * 1024)

    async with httpx.AsyncClient(transport=BlobBodyTransport(endless)) as http:
        client = await enroll(cloud, http)
        with pytest.raises(SizeMismatch, match=f"blob {SHA[:12]} is longer than its announced"):
            await download_blob(client, SHA, cache, size=SIZE)
    assert sum(sent) <= 1024 * 1024  # stopped within a read chunk or so of the size
    assert not (cache / f"{SHA}.part").exists()
    assert not (cache / SHA).exists()


async def test_a_body_shorter_than_announced_is_discarded(cloud: RunningCloud, cache: Path) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        with pytest.raises(SizeMismatch, match=f"ended after {SIZE} of its {SIZE + 1} bytes"):
            await download_blob(client, SHA, cache, size=SIZE + 1)
    assert not (cache / f"{SHA}.part").exists()
    assert not (cache / SHA).exists()


async def test_a_blob_the_cloud_does_not_have_is_unavailable(
    cloud: RunningCloud, cache: Path
) -> None:
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        with pytest.raises(BlobUnavailable, match=f"^blob {missing[:12]}: .* 404") as info:
            await download_blob(client, missing, cache, size=10)
    assert info.value.status_code == 404
    assert not (cache / missing).exists()


async def test_a_cache_that_cannot_be_written_is_a_download_error(
    cloud: RunningCloud, tmp_path: Path
) -> None:
    upload(cloud, "blob.png", BLOB, "image/png")
    (tmp_path / "a-file").write_bytes(b"")
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        with pytest.raises(DownloadError, match=f"^blob {SHA[:12]}: cannot write it"):
            await download_blob(client, SHA, tmp_path / "a-file" / "content", size=SIZE)


async def test_a_part_that_is_already_whole_is_checked_and_kept(
    cloud: RunningCloud, cache: Path
) -> None:
    cache.mkdir()
    (cache / f"{SHA}.part").write_bytes(BLOB)  # the power went after the last byte
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)  # the cloud does not even have this blob
        assert (await download_blob(client, SHA, cache, size=SIZE)).read_bytes() == BLOB
