"""Large blobs: resuming after cuts, and throughput beside curl.

1. Resume: a 200 MB blob is fetched through a TCP proxy that cuts the connection at five
   random points; the agent's `download_blob` resumes each time with Range/If-Range. Prints
   the bytes that crossed the proxy divided by the blob's size (1.00 is perfect).
2. Throughput: the same blob fetched by the agent's code from the cloud (DPoP, hashing,
   fsync), and by `curl` from a static file server (`python -m http.server`) to a file, in
   one run, interleaved; prints both and their ratio.

A real cloud on loopback and the real device client. Prints figures; asserts nothing.

    .venv/bin/python bench/downloads.py [--mb 200] [--cuts 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.client import DeviceClient  # noqa: E402
from sync.downloads import download_blob  # noqa: E402
from sync.errors import DownloadError  # noqa: E402
from sync.identity import DeviceKey  # noqa: E402
from tests.cloud.screen import PNG_1X1  # noqa: E402
from tests.support.cloud import free_port, running_cloud  # noqa: E402
from tests.support.device import enroll  # noqa: E402


class CuttingProxy:
    """Forwards TCP to `upstream_port`, closing the connection after each of `cuts` offsets."""

    def __init__(self, upstream_port: int, cuts: list[int]) -> None:
        self.upstream_port = upstream_port
        self.cuts = sorted(cuts)
        self.forwarded = 0  # bytes from the cloud to the client, across all connections
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def client_to_cloud() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
                await up_writer.drain()

        async def cloud_to_client() -> None:
            while data := await up_reader.read(65536):
                if self.cuts and self.forwarded + len(data) > self.cuts[0]:
                    keep = self.cuts.pop(0) - self.forwarded
                    writer.write(data[: max(0, keep)])
                    self.forwarded += max(0, keep)
                    await writer.drain()
                    return  # cut: both sides are closed below
                writer.write(data)
                self.forwarded += len(data)
                await writer.drain()

        tasks = [asyncio.create_task(client_to_cloud()), asyncio.create_task(cloud_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the bench is over
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for w in (writer, up_writer):
                w.close()


async def resume(cloud_url: str, cloud_port: int, sha256: str, size: int, cuts: int, base: Path):
    cut_at = sorted(random.randrange(size // 20, size) for _ in range(cuts))
    proxy = CuttingProxy(cloud_port, cut_at)
    await proxy.start()
    async with httpx.AsyncClient(timeout=60) as http:
        key = DeviceKey.generate()
        enrolled = await enroll(CLOUD, http, key=key)
        # the same device, reached through the proxy
        client = DeviceClient(
            http=http, base_url=f"http://127.0.0.1:{proxy.port}", key=key, tokens=enrolled.tokens
        )
        attempts = 0
        while True:
            attempts += 1
            try:
                await download_blob(client, sha256, base / "resume", size=size)
                break
            except DownloadError:
                if attempts > cuts + 3:
                    raise
    await proxy.stop()
    return proxy.forwarded / size, attempts


async def agent_rate(sha256: str, size: int, folder: Path) -> float:
    async with httpx.AsyncClient(timeout=60) as http:
        client = await enroll(CLOUD, http)
        started = time.perf_counter()
        await download_blob(client, sha256, folder, size=size)
        took = time.perf_counter() - started
    shutil.rmtree(folder)
    return size / took / 1e6


def curl_rate(path: Path, size: int, folder: Path) -> float:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(path.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                httpx.head(f"http://127.0.0.1:{port}/{path.name}", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        target = folder / "curl.out"
        started = time.perf_counter()
        subprocess.run(
            ["curl", "-s", "-o", str(target), f"http://127.0.0.1:{port}/{path.name}"], check=True
        )
        took = time.perf_counter() - started
        target.unlink()
        return size / took / 1e6
    finally:
        server.terminate()
        server.wait()


CLOUD = None


def main() -> None:
    global CLOUD
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--cuts", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.mb * 1_000_000 + len(PNG_1X1)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        blob = base / "blob.png"
        with blob.open("wb") as f:
            # a picture the cloud accepts (it probes uploads), then random bytes after its
            # end, which decoders ignore
            f.write(PNG_1X1)
            for _ in range(args.mb):
                f.write(os.urandom(1_000_000))
        import hashlib

        digest = hashlib.sha256()
        with blob.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        sha256 = digest.hexdigest()
        with running_cloud(base / "cloud") as cloud:
            CLOUD = cloud
            with httpx.Client(
                base_url=cloud.url,
                timeout=120,
                headers={"Authorization": f"Bearer {cloud.admin_key}"},
            ) as admin:
                with blob.open("rb") as f:
                    answer = admin.post(
                        "/api/v3/admin/assets",
                        params={"name": "blob.png"},
                        content=f,
                        headers={"Content-Type": "image/png"},
                    )
                answer.raise_for_status()
            port = int(cloud.url.rsplit(":", 1)[1])
            ratio, attempts = asyncio.run(resume(cloud.url, port, sha256, size, args.cuts, base))
            print(
                f"resume: {args.mb} MB cut {args.cuts} times, {attempts} attempts: "
                f"bytes over the wire / blob size = {ratio:.4f}"
            )
            agent, curl = [], []
            for _ in range(args.runs):
                agent.append(asyncio.run(agent_rate(sha256, size, base / "agent")))
                curl.append(curl_rate(blob, size, base))
            a, c = statistics.median(agent), statistics.median(curl)
            runs_a = ", ".join(f"{x:.0f}" for x in agent)
            runs_c = ", ".join(f"{x:.0f}" for x in curl)
            print(f"throughput: agent from the cloud {a:.0f} MB/s (runs {runs_a})")
            print(f"            curl from a static server {c:.0f} MB/s (runs {runs_c})")
            print(f"            ratio {a / c:.2f}")


if __name__ == "__main__":
    main()
