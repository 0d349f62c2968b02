"""sd_notify: the agent tells systemd it is ready, pings the watchdog, and says when it stops."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.systemd import notify, watchdog_interval_s
from tests.support.agent import running_agent, wait_until
from tests.support.cloud import free_port


@pytest.fixture
def systemd_socket() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket standing in for systemd's, in the abstract namespace (no path limit)."""
    name = f"@signage-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    sock.settimeout(0.2)
    yield name, sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages


def test_outside_systemd_notify_does_nothing() -> None:
    assert notify("READY=1", environ={}) is False
    assert watchdog_interval_s({}) is None


def test_notify_sends_one_datagram_with_every_field(systemd_socket) -> None:
    name, sock = systemd_socket
    assert notify("READY=1", "STATUS=playing", environ={"NOTIFY_SOCKET": name}) is True
    assert received(sock) == ["READY=1\nSTATUS=playing"]


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(env, interval) -> None:
    assert watchdog_interval_s(env) == interval


def test_the_agent_is_ready_once_it_shows_something_and_pings_the_watchdog(
    tmp_path: Path, systemd_socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, sock = systemd_socket
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # 1 s: a ping every 0.5 s
    messages: list[str] = []
    url = f"http://127.0.0.1:{free_port()}"  # no cloud: the screen still shows a message
    with running_agent(tmp_path / "agent", url) as agent:
        wait_until(
            lambda: (
                messages.extend(received(sock))
                or (
                    sum("WATCHDOG=1" in m for m in messages) >= 3
                    and "Cannot reach" in str(messages)
                )
            ),
            30,
            "three watchdog pings and the offline notice",
        )
        assert agent.stop() == 0
    messages.extend(received(sock))
    assert messages[0].startswith("READY=1")
    # one human line for `systemctl status`, changed as the screen changes
    assert "STATUS=showing Setting up this screen: Connecting…" in messages[0]
    assert any("STATUS=showing Setting up this screen: Cannot reach the cloud" in m
               for m in messages)  # fmt: skip
    assert "STOPPING=1" in messages[-1]
    assert "Setting up this screen" in agent.log()
