"""A scripted screen for the cloud's tests: a real device key, real DPoP proofs, real HTTP.

It does what the agent does on the wire (nonce dance, enrollment, token use) with every
step exposed, so that tests can also send what a well-behaved agent never would.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from sync.dpop import create_proof
from sync.identity import DeviceKey
from sync.models import (
    CLIENT_ID,
    DEVICE_CODE_GRANT,
    DEVICE_PREFIX,
    REFRESH_TOKEN_GRANT,
    Change,
    DeviceAuthorization,
    EventsReceipt,
    StatePage,
    TokenResponse,
)
from tests.support.cloud import RunningCloud
from tests.support.media import small_video_bytes


def oauth_error(response: httpx.Response) -> str | None:
    """The OAuth `error` code of a refusal, if the body has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def challenge(response: httpx.Response) -> str:
    return response.headers.get("WWW-Authenticate", "")


def needs_nonce(response: httpx.Response) -> bool:
    return response.status_code in (400, 401) and oauth_error(response) == "use_dpop_nonce"


class Screen:
    """One device: its key, the cloud's latest nonce, and its tokens once enrolled."""

    def __init__(self, base_url: str, key: DeviceKey | None = None) -> None:
        self.base_url = base_url
        self.key = key or DeviceKey.generate()
        self.http = httpx.Client(base_url=base_url, timeout=10.0)
        self.nonce: str | None = None
        self.tokens: TokenResponse | None = None

    def __enter__(self) -> Screen:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    @property
    def access_token(self) -> str:
        assert self.tokens is not None, "enroll first"
        return self.tokens.access_token

    @property
    def device_id(self) -> str:
        assert self.tokens is not None, "enroll first"
        return self.tokens.device_id

    def proof(
        self,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        key: DeviceKey | None = None,
        nonce: str | None = None,
    ) -> str:
        """A proof for `method path`, by this screen's key and with the latest nonce."""
        return create_proof(
            key or self.key,
            method,
            self.base_url + path,
            access_token=access_token,
            nonce=nonce or self.nonce,
        )

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send exactly what the caller built; remember the nonce of the answer."""
        response = self.http.request(method, path, **kwargs)
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        return response

    def send(
        self,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        data: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """A request with a fresh proof, retried once if the cloud asks for its nonce."""
        for attempt in range(2):
            proof_headers = {"DPoP": self.proof(method, path, access_token=access_token)}
            if access_token is not None:
                proof_headers["Authorization"] = f"DPoP {access_token}"
            response = self.raw(
                method,
                path,
                data=data,
                content=content,
                params=params,
                headers={**proof_headers, **(headers or {})},
                **({"timeout": timeout} if timeout is not None else {}),
            )
            if attempt == 0 and needs_nonce(response):
                continue
            return response
        return response

    # --- enrollment and tokens ---------------------------------------------------------

    def authorize(self) -> DeviceAuthorization:
        response = self.send("POST", f"{DEVICE_PREFIX}/authorize", data={"client_id": CLIENT_ID})
        assert response.status_code == 200, response.text
        return DeviceAuthorization.model_validate(response.json())

    def poll(self, device_code: str) -> httpx.Response:
        form = {"grant_type": DEVICE_CODE_GRANT, "device_code": device_code, "client_id": CLIENT_ID}
        return self.send("POST", f"{DEVICE_PREFIX}/token", data=form)

    def refresh(self, refresh_token: str) -> httpx.Response:
        form = {"grant_type": REFRESH_TOKEN_GRANT, "refresh_token": refresh_token}
        return self.send("POST", f"{DEVICE_PREFIX}/token", data=form)

    def enroll(
        self, cloud: RunningCloud, *, name: str = "Lobby", admin_key: str | None = None
    ) -> TokenResponse:
        """Enroll the way an installer would: show a code, an admin approves it, collect."""
        grant = self.authorize()
        key = admin_key or cloud.admin_key
        with httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {key}"}) as admin:
            approved = admin.post(
                f"/api/v3/admin/enrollments/{grant.user_code}/approve", json={"name": name}
            )
        assert approved.status_code == 200, approved.text
        response = self.poll(grant.device_code)
        assert response.status_code == 200, response.text
        self.tokens = TokenResponse.model_validate(response.json())
        return self.tokens

    # --- resources ---------------------------------------------------------------------

    def get_state(
        self, cursor: str | None = None, *, wait: int = 0, limit: int | None = None
    ) -> httpx.Response:
        """One `GET /state`: a page of a full listing without a cursor, else of the deltas."""
        params = {"cursor": cursor} if cursor is not None else {}
        if wait:
            params["wait"] = str(wait)
        if limit is not None:
            params["limit"] = str(limit)
        return self.send(
            "GET",
            f"{DEVICE_PREFIX}/state",
            access_token=self.access_token,
            params=params or None,
            timeout=wait + 10.0,
        )

    def page(self, cursor: str | None = None, *, limit: int | None = None) -> StatePage:
        """The next page, which must be a 200."""
        response = self.get_state(cursor, limit=limit)
        assert response.status_code == 200, (response.status_code, response.text)
        return StatePage.model_validate_json(response.content)

    def pages(self, cursor: str | None = None, *, limit: int | None = None) -> list[StatePage]:
        """Every page from `cursor` until one without `more` (a 204 gives no pages)."""
        pages: list[StatePage] = []
        while True:
            response = self.get_state(cursor, limit=limit)
            if response.status_code == 204 and cursor is not None:
                assert not pages, "204 in the middle of a series of pages"
                return pages
            assert response.status_code == 200, (response.status_code, response.text)
            page = StatePage.model_validate_json(response.content)
            pages.append(page)
            cursor = page.cursor
            if not page.more:
                return pages

    def listing(self, *, limit: int | None = None) -> tuple[Held, str]:
        """A full listing, every page of it: what it names, and the delta cursor it ends on."""
        pages = self.pages(limit=limit)
        assert all(page.full for page in pages)
        return held_after(pages), pages[-1].cursor

    def post_events(
        self, events: list[Any] | None = None, *, body: bytes | None = None
    ) -> httpx.Response:
        """`POST /events` with `{"events": events}` (or exactly `body`), as JSON."""
        if body is None:
            body = json.dumps({"events": events or []}).encode()
        return self.send(
            "POST",
            f"{DEVICE_PREFIX}/events",
            access_token=self.access_token,
            content=body,
            headers={"Content-Type": "application/json"},
        )

    def report(self, *events: Any) -> EventsReceipt:
        """Events the cloud must answer 200 for; its receipt."""
        response = self.post_events(list(events))
        assert response.status_code == 200, (response.status_code, response.text)
        return EventsReceipt.model_validate_json(response.content)

    def put_attachment(
        self, command_id: str, data: bytes, content_type: str = "image/png"
    ) -> httpx.Response:
        return self.send(
            "PUT",
            f"{DEVICE_PREFIX}/commands/{command_id}/attachment",
            access_token=self.access_token,
            content=data,
            headers={"Content-Type": content_type},
        )

    def get_blob(self, sha256: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.send(
            "GET",
            f"{DEVICE_PREFIX}/blobs/{sha256}",
            access_token=self.access_token,
            headers=headers,
        )


Held = dict[tuple[str, str], Change]


def held_after(pages: list[StatePage], held: Held | None = None) -> Held:
    """What a device holds after applying `pages` to `held`: upserts kept, tombstones gone.

    An older version never replaces a newer one, as the agent applies them.
    """
    result: Held = dict(held or {})
    for page in pages:
        for change in page.changes:
            key = (change.kind, change.id)
            if key in result and result[key].version > change.version:
                continue
            result[key] = change
    return {key: change for key, change in result.items() if not change.deleted}


def changes_of(pages: list[StatePage]) -> dict[tuple[str, str], Change]:
    """Every change the pages carry, by (kind, id), the newest version of each."""
    found: dict[tuple[str, str], Change] = {}
    for page in pages:
        for change in page.changes:
            key = (change.kind, change.id)
            if key not in found or found[key].version <= change.version:
                found[key] = change
    return found


Delta = set[tuple[str, str, bool]]  # (kind, id, deleted)


def listed_now(screen: Screen) -> dict[tuple[str, str], Any]:
    """What a fresh full listing names, with each object's data."""
    held, _ = screen.listing()
    return {key: change.data for key, change in held.items()}


def data_of(held: Held) -> dict[tuple[str, str], Any]:
    return {key: change.data for key, change in held.items()}


class Device:
    """A screen that keeps what it holds, applying deltas as the agent does."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.held, self.cursor = screen.listing()

    def sync(self) -> Delta:
        """Apply every page since the cursor; the changes they carried."""
        pages = self.screen.pages(self.cursor)
        if not pages:
            return set()
        self.held = held_after(pages, self.held)
        self.cursor = pages[-1].cursor
        # After every delta, the device holds exactly what a listing would name.
        assert data_of(self.held) == listed_now(self.screen)
        return {(c.kind, c.id, c.deleted) for c in changes_of(pages).values()}


def upload(
    admin: httpx.Client, name: str, data: bytes, content_type: str | None = None
) -> dict[str, Any]:
    """Upload an asset through the admin API; its AssetCreated body."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = admin.post(
        "/api/v3/admin/assets", params={"name": name}, content=data, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    return body


def create_playlist(admin: httpx.Client, name: str, items: list[dict[str, Any]]) -> str:
    response = admin.post("/api/v3/admin/playlists", json={"name": name, "items": items})
    assert response.status_code == 200, response.text
    playlist_id: str = response.json()["id"]
    return playlist_id


def assign(admin: httpx.Client, device_id: str, playlist_id: str | None) -> httpx.Response:
    return admin.put(
        f"/api/v3/admin/devices/{device_id}/playlist", json={"playlist_id": playlist_id}
    )


ADMIN = "/api/v3/admin"


def answer(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of an answer that must have `status`."""
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def create_group(admin: httpx.Client, name: str, *members: str) -> str:
    group_id: str = answer(admin.post(f"{ADMIN}/groups", json={"name": name}))["id"]
    if members:
        join(admin, group_id, *members)
    return group_id


def join(admin: httpx.Client, group_id: str, *devices: str) -> dict[str, Any]:
    body = {"add": list(devices)}
    result: dict[str, Any] = answer(admin.patch(f"{ADMIN}/groups/{group_id}/devices", json=body))
    return result


def leave(admin: httpx.Client, group_id: str, *devices: str) -> dict[str, Any]:
    body = {"remove": list(devices)}
    result: dict[str, Any] = answer(admin.patch(f"{ADMIN}/groups/{group_id}/devices", json=body))
    return result


def assign_group(admin: httpx.Client, group_id: str, playlist_id: str | None) -> dict[str, Any]:
    body = {"playlist_id": playlist_id}
    result: dict[str, Any] = answer(admin.put(f"{ADMIN}/groups/{group_id}/playlist", json=body))
    return result


def add_entry(admin: httpx.Client, playlist_id: str, **fields: Any) -> str:
    """A schedule entry (device_id= or group_id=, and any other field); its id."""
    body = {"playlist_id": playlist_id, **fields}
    entry_id: str = answer(admin.post(f"{ADMIN}/schedules", json=body))["id"]
    return entry_id


def interrupt(
    admin: httpx.Client, target: str, target_id: str, playlist_id: str, **fields: Any
) -> dict[str, Any]:
    """Interrupt a device (`target` "devices") or a group ("groups"); the InterruptSummary."""
    body = {"playlist_id": playlist_id, **fields}
    result: dict[str, Any] = answer(admin.put(f"{ADMIN}/{target}/{target_id}/interrupt", json=body))
    return result


# Small but real media (the cloud decodes every upload): a 1x1 PNG and a 2 s H.264 MP4.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f00050001ff56c72f0d0000000049454e44ae426082"
)
VIDEO_BYTES = small_video_bytes()  # about 35 KB
