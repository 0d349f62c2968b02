"""`agent.screen.message_for`: the message for each situation of the agent."""

from __future__ import annotations

from agent.connection import ConnectionState, after_failure
from agent.screen import message_for
from sync.models import DeviceAuthorization

URL = "http://cloud.invalid:8080"
GRANT = DeviceAuthorization(
    device_code="d", user_code="BCDF-GHJK", verification_uri="http://c/activate", expires_in=900
)


def failed(times: int) -> ConnectionState:
    state = ConnectionState()
    for at in range(times):
        state = after_failure(state, "cannot reach the cloud (ConnectError: refused)", at)
    return state


def test_connecting_then_a_message_that_says_what_failed_and_what_to_check() -> None:
    connecting = message_for(enrolled=False, device_name=None, grant=None,
                             connection=failed(1), cloud_url=URL)  # fmt: skip
    assert connecting.headline == "Connecting…"
    stuck = message_for(enrolled=False, device_name=None, grant=None,
                        connection=failed(3), cloud_url=URL)  # fmt: skip
    assert stuck.headline == "Cannot reach the cloud"
    text = " ".join(stuck.lines)
    assert URL in text and "refused" in text and "cloud_url" in text


def test_the_code_while_waiting_and_no_content_once_enrolled() -> None:
    fine = ConnectionState(online=True)
    code = message_for(enrolled=False, device_name=None, grant=GRANT, connection=fine,
                       cloud_url=URL)  # fmt: skip
    assert code.headline == "BCDF-GHJK"
    enrolled = message_for(enrolled=True, device_name="Lobby", grant=None, connection=fine,
                           cloud_url=URL)  # fmt: skip
    assert (enrolled.title, enrolled.headline) == ("Lobby", "No content yet")
    offline = message_for(enrolled=True, device_name="Lobby", grant=None,
                          connection=failed(5), cloud_url=URL)  # fmt: skip
    assert (offline.title, offline.headline) == ("Lobby", "Cannot reach the cloud")
