"""Run the real reference cloud (`python -m cloud serve`) as a subprocess for a test.

    with running_cloud(tmp_path / "cloud") as cloud:
        with cloud.admin() as admin:
            admin.get("/api/v3/admin/devices")

The cloud listens on a free port of 127.0.0.1, keeps its data (SQLite, signing key, blobs)
in `data_dir`, and has one tenant made for the test. Its log goes to `data_dir/cloud.log`,
which is shown when it fails to start. The environment of the test is passed on, so a test
may set a `SIGNAGE_CLOUD_*` variable before starting it (the root conftest clears stray ones).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from cloud.tenants import create_tenant_in

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
LOG_FILE_NAME = "cloud.log"
# Enrollment codes a test cloud hands out per address and minute (see running_cloud).
AUTHORIZE_FOR_TESTS = 100_000

# Variables that would send test traffic elsewhere or change what the code under test reads.
LEAKY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
LEAKY_PREFIXES = ("SIGNAGE_",)


def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove proxies (either case) and SIGNAGE_* settings inherited from the shell."""
    for name in list(os.environ):
        if name.lower() in LEAKY_VARIABLES or name.upper().startswith(LEAKY_PREFIXES):
            monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningCloud:
    url: str  # e.g. "http://127.0.0.1:43817"
    admin_key: str  # key of a tenant created for the test
    tenant_id: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def admin(self) -> httpx.Client:
        """A client of the cloud with this tenant's admin key; use it in a `with` block."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}
        )

    def create_key(self, role: str, name: str = "") -> tuple[str, str]:
        """A new key of the test tenant with `role`: (key_id, key)."""
        with self.admin() as admin:
            response = admin.post("/api/v3/admin/keys", json={"role": role, "name": name})
            assert response.status_code == 200, response.text
            body = response.json()
            return body["id"], body["key"]

    def create_tenant(self, name: str) -> tuple[str, str]:
        """A second tenant: (tenant_id, admin_key)."""
        tenant, admin_key = create_tenant_in(self.data_dir, name)
        return tenant.id, admin_key

    def log(self) -> str:
        """What the cloud logged so far."""
        path = self.data_dir / LOG_FILE_NAME
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> int | None:
        """Stop the cloud (SIGTERM, then SIGKILL after 5 s); its exit status. Safe twice."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _wait_healthy(cloud: RunningCloud, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"the cloud exited with status {process.returncode} before it was ready:\n"
                f"{cloud.log()}"
            )
        try:
            if httpx.get(f"{cloud.url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the cloud was not healthy within {START_TIMEOUT_S:.0f} s:\n{cloud.log()}"
            )
        time.sleep(0.05)


@contextmanager
def running_cloud(
    data_dir: Path,
    *,
    poll_interval: int = 1,
    code_ttl: int = 900,
    access_token_ttl: int = 3600,
    env: dict[str, str] | None = None,
) -> Iterator[RunningCloud]:
    """A cloud serving `data_dir` on a free loopback port, stopped on exit.

    `env` adds settings (e.g. `SIGNAGE_CLOUD_MAX_UPLOAD_BYTES`) to the cloud's environment.
    Enrollment codes per address are not limited in practice (`AUTHORIZE_FOR_TESTS`): tests
    and benchmarks enroll many screens from 127.0.0.1; a test of that limit sets its own.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    tenant, admin_key = create_tenant_in(data_dir, "Test tenant")
    port = free_port()
    env = {
        **os.environ,
        "SIGNAGE_CLOUD_POLL_INTERVAL": str(poll_interval),
        "SIGNAGE_CLOUD_CODE_TTL": str(code_ttl),
        "SIGNAGE_CLOUD_ACCESS_TOKEN_TTL": str(access_token_ttl),
        "SIGNAGE_CLOUD_AUTHORIZE_PER_MINUTE": str(AUTHORIZE_FOR_TESTS),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "cloud",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data",
        str(data_dir),
    ]
    with (data_dir / LOG_FILE_NAME).open("ab") as log_file:
        # A file, not a pipe: nobody reads a pipe during the test, and a full one would block.
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    cloud = RunningCloud(
        url=f"http://127.0.0.1:{port}",
        admin_key=admin_key,
        tenant_id=tenant.id,
        data_dir=data_dir,
        process=process,
    )
    try:
        _wait_healthy(cloud, process)
        yield cloud
    finally:
        cloud.stop()


__all__ = ["RunningCloud", "clean_environ", "free_port", "running_cloud"]
