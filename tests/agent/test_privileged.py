"""The narrow path to root: `agent.privileged.HelperClient` talking to the real helper
script (systemd/signage-agent-privileged) over a Unix socket, started once per connection
with the connection as its standard input and output, as systemd's Accept=yes does. The
tools it runs (cec-ctl, vcgencmd, systemctl) are stand-ins that record their arguments."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.privileged import (
    NO_DISPLAY_CONTROL,
    Answer,
    HelperClient,
    Outcome,
    PrivilegedError,
    Verb,
    display_control,
    parse_answer,
)

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "systemd" / "signage-agent-privileged"
# What the helper itself needs besides the tools under test (dash has printf and command).
UTILITIES = ("head", "tr", "cut")


@dataclass
class Machine:
    """Stand-ins for the tools and /dev the helper looks at, and what they were asked."""

    bin_dir: Path
    dev_dir: Path
    calls: Path

    def tool(self, name: str, status: int = 0, output: str = "") -> None:
        script = self.bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $*" >> "{self.calls}"\n'
            + (f"echo '{output}'\n" if output else "")
            + f"exit {status}\n"
        )
        script.chmod(0o755)

    def asked(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    bin_dir, dev_dir = tmp_path / "bin", tmp_path / "dev"
    bin_dir.mkdir()
    dev_dir.mkdir()
    for name in UTILITIES:
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    return Machine(bin_dir, dev_dir, tmp_path / "calls.log")


@contextmanager
def helper_socket(path: Path, machine: Machine) -> Iterator[None]:
    """A socket that runs the helper once per connection, stdin and stdout the connection."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    environment = {
        "SIGNAGE_PRIVILEGED_PATH": str(machine.bin_dir),
        "SIGNAGE_PRIVILEGED_DEV_DIR": str(machine.dev_dir),
    }

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with connection:
                subprocess.run(["/bin/sh", str(HELPER)], stdin=connection, stdout=connection,
                               env=environment, timeout=30, check=False)  # fmt: skip

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


def ask(path: Path, machine: Machine, verb: Verb) -> Answer:
    client = HelperClient(path, dev_dir=machine.dev_dir)
    with helper_socket(path, machine):
        return asyncio.run(client.run(verb))


def test_display_off_goes_through_hdmi_cec_when_there_is_an_adapter(
    machine: Machine, tmp_path: Path
) -> None:
    machine.tool("cec-ctl")
    machine.tool("vcgencmd")
    (machine.dev_dir / "cec0").touch()
    answer = ask(tmp_path / "s.sock", machine, Verb.DISPLAY_OFF)
    cec0 = machine.dev_dir / "cec0"
    assert answer == Answer(Outcome.OK, f"HDMI-CEC --standby sent to the display through {cec0}")
    assert machine.asked() == [
        f"cec-ctl -d {cec0} --playback",
        f"cec-ctl -d {cec0} --to 0 --standby",
    ]


def test_display_on_falls_back_to_vcgencmd_when_no_display_answers_cec(
    machine: Machine, tmp_path: Path
) -> None:
    machine.tool("cec-ctl", status=1)
    machine.tool("vcgencmd", output="display_power=1")
    (machine.dev_dir / "cec1").touch()
    answer = ask(tmp_path / "s.sock", machine, Verb.DISPLAY_ON)
    assert answer == Answer(Outcome.OK, "vcgencmd display_power 1: display_power=1")
    assert machine.asked()[-1] == "vcgencmd display_power 1"


def test_display_power_without_any_tool_is_unsupported(machine: Machine, tmp_path: Path) -> None:
    (machine.dev_dir / "cec0").touch()  # an adapter, but no cec-ctl to drive it
    answer = ask(tmp_path / "s.sock", machine, Verb.DISPLAY_OFF)
    assert answer == Answer(Outcome.UNSUPPORTED, NO_DISPLAY_CONTROL)
    assert machine.asked() == []


def test_cec_that_no_display_acknowledges_fails(machine: Machine, tmp_path: Path) -> None:
    machine.tool("cec-ctl", status=1)
    (machine.dev_dir / "cec0").touch()
    answer = ask(tmp_path / "s.sock", machine, Verb.DISPLAY_OFF)
    assert answer == Answer(
        Outcome.FAILED, f"HDMI-CEC: no display acknowledged through {machine.dev_dir / 'cec0'}"
    )


def test_reboot_asks_systemd(machine: Machine, tmp_path: Path) -> None:
    machine.tool("systemctl")
    assert ask(tmp_path / "s.sock", machine, Verb.REBOOT) == Answer(Outcome.OK, "rebooting")
    assert machine.asked() == ["systemctl reboot"]

    machine.tool("systemctl", status=1, output="Access denied\tby\x01policy")
    answer = ask(tmp_path / "t.sock", machine, Verb.REBOOT)
    assert answer == Answer(Outcome.FAILED, "systemctl reboot: Access deniedbypolicy")


@pytest.mark.parametrize(
    "request_bytes",
    [b"rm -rf /\n", b"reboot now\n", b"display-off; reboot\n", b"\n", b"", b"REBOOT\n"],
)
def test_anything_but_the_three_verbs_is_refused_and_runs_nothing(
    machine: Machine, tmp_path: Path, request_bytes: bytes
) -> None:
    for name in ("cec-ctl", "vcgencmd", "systemctl"):
        machine.tool(name)
    path = tmp_path / "s.sock"
    with helper_socket(path, machine), socket.socket(socket.AF_UNIX) as client:
        client.connect(str(path))
        client.sendall(request_bytes)
        client.shutdown(socket.SHUT_WR)
        answer = client.makefile("rb").readline()
    assert answer == b"refused not one of: reboot, display-off, display-on\n"
    assert machine.asked() == []
    with pytest.raises(PrivilegedError, match="refused the request"):
        parse_answer(answer)


def test_answers_the_client_cannot_read_are_errors() -> None:
    assert parse_answer(b"ok rebooting\n") == Answer(Outcome.OK, "rebooting")
    assert parse_answer(b"ok\n") == Answer(Outcome.OK, "ok")
    assert parse_answer(b"failed tab\there\n").detail == "tab?here"
    for nonsense in (b"", b"maybe later\n", b"\xff\xfe\n"):
        with pytest.raises(PrivilegedError, match="answered"):
            parse_answer(nonsense)


def test_a_helper_that_does_not_answer_is_an_error_in_time(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    try:
        client = HelperClient(path, timeout_s=0.3)
        with pytest.raises(PrivilegedError, match="did not answer display-on within 0 s"):
            asyncio.run(client.run(Verb.DISPLAY_ON))
    finally:
        listener.close()
    with pytest.raises(PrivilegedError, match="cannot ask the privileged helper"):
        asyncio.run(HelperClient(path).run(Verb.REBOOT))  # nobody listens any more


def test_a_reboot_that_takes_the_helper_down_before_it_answers_counts_as_under_way(
    tmp_path: Path,
) -> None:
    path = tmp_path / "closing.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(2)

    def serve() -> None:
        for _ in range(2):
            connection, _ = listener.accept()
            connection.recv(100)
            connection.close()  # stopped by the shutdown before it could answer

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = HelperClient(path)
        answer = asyncio.run(client.run(Verb.REBOOT))
        assert answer.outcome == Outcome.OK and "may be under way" in answer.detail
        with pytest.raises(PrivilegedError, match="answered 'nothing'"):
            asyncio.run(client.run(Verb.DISPLAY_OFF))  # for anything else, no answer is an error
    finally:
        listener.close()
        thread.join(5)


def test_what_the_client_says_it_cannot_do_before_asking(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    absent = HelperClient(tmp_path / "absent.sock", dev_dir=dev, which=lambda _: "/usr/bin/x")
    for verb in Verb:
        assert "signage-agent-privileged.socket is not installed" in (
            absent.unavailable(verb) or ""
        )

    present = tmp_path / "present.sock"
    present.touch()
    tools: dict[str, str] = {}
    client = HelperClient(present, dev_dir=dev, which=tools.get)
    assert client.unavailable(Verb.REBOOT) is None
    assert client.unavailable(Verb.DISPLAY_OFF) == NO_DISPLAY_CONTROL
    tools["cec-ctl"] = "/usr/bin/cec-ctl"
    assert not display_control(dev, tools.get)  # cec-ctl, but no adapter
    (dev / "cec0").touch()
    assert client.unavailable(Verb.DISPLAY_ON) is None
    assert display_control(dev, {"vcgencmd": "/usr/bin/vcgencmd"}.get)


def test_the_helper_is_a_posix_shell_script() -> None:
    assert os.access(HELPER, os.X_OK)
    assert HELPER.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(HELPER)], check=True)
    checkbashisms = shutil.which("checkbashisms")
    if checkbashisms:
        subprocess.run([checkbashisms, str(HELPER)], check=True)
