"""A small synchronous client of the admin API, for the CLI and for scripts.

Every failure becomes an `AdminClientError` whose message is one line a person can act on:
the server's own `detail` when it answered, or what to check when it did not.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from cloud.admin_models import (
    MAX_COMMAND_PAGE,
    AssetCreated,
    AssetSummary,
    CommandCancelled,
    CommandDetail,
    CommandListing,
    CommandSummary,
    DeviceDetail,
    DeviceListing,
    DeviceSettings,
    GroupMembers,
    GroupSummary,
    InterruptSummary,
    NewCommand,
    NewGroup,
    NewInterrupt,
    NewPlaylist,
    NewPlaylistItem,
    NewScheduleEntry,
    PlaylistItems,
    PlayRecord,
    PlayReport,
    PlaySummary,
    ScheduleEntrySummary,
)
from cloud.errors import AdminClientError, CloudUnreachable
from sync.models import (
    ADMIN_PREFIX,
    ApprovedDevice,
    DeviceRecord,
    DeviceSummary,
    KeyCreated,
    KeySummary,
    NewKey,
    PlaylistCreated,
    PlaylistDetail,
    PlaylistSummary,
    Role,
)

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# An upload the cloud could not check yet (429 "busy checking other uploads", with
# Retry-After) is sent again this many times in all, waiting at most this long each time.
UPLOAD_TRIES = 3
UPLOAD_WAIT_MAX_S = 30.0

_DEVICE_LIST = TypeAdapter(list[DeviceListing])
_ASSET_LIST = TypeAdapter(list[AssetSummary])
_PLAYLIST_LIST = TypeAdapter(list[PlaylistSummary])
_KEY_LIST = TypeAdapter(list[KeySummary])
_GROUP_LIST = TypeAdapter(list[GroupSummary])
_ENTRY_LIST = TypeAdapter(list[ScheduleEntrySummary])
_INTERRUPT_LIST = TypeAdapter(list[InterruptSummary])
Model = TypeVar("Model", bound=BaseModel)


def error_message(response: httpx.Response) -> str:
    """The one-line reason a request was refused."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail:  # FastAPI's validation errors
        first = detail[0]
        where = ".".join(str(part) for part in first.get("loc", []) if part != "body")
        return f"the cloud refused the request: {where}: {first.get('msg')}"
    return f"the cloud answered {response.status_code} {response.reason_phrase}"


def _retry_after_s(response: httpx.Response) -> float | None:
    """The seconds a 429's Retry-After asks for, if they are a number worth waiting."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds <= UPLOAD_WAIT_MAX_S else None


class AdminClient:
    def __init__(
        self,
        url: str,
        admin_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url + ADMIN_PREFIX,
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=TIMEOUT,
            transport=transport,
        )

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._json(self._send(method, path, **kwargs))

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise AdminClientError(
                f"the cloud at {self.url} answered something that is not JSON: "
                "is that URL a signage-cloud?"
            ) from exc

    def _send(
        self, method: str, path: str, *, busy_ok: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """The answer to a request, which must be a success; AdminClientError otherwise.

        `busy_ok`: a 429 is returned rather than raised (the caller may try again)."""
        try:
            response = self._client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise CloudUnreachable(
                f"cannot reach the cloud at {self.url}: is `signage-cloud serve` running?"
            ) from exc
        except httpx.TimeoutException as exc:
            raise AdminClientError(
                f"the cloud at {self.url} did not answer in time: try again"
            ) from exc
        except httpx.HTTPError as exc:
            raise AdminClientError(f"talking to the cloud at {self.url} failed: {exc}") from exc
        if response.is_error and not (busy_ok and response.status_code == 429):
            raise AdminClientError(error_message(response))
        return response

    def _parse(self, model: type[Model], data: Any) -> Model:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise AdminClientError(
                f"unexpected answer from the cloud at {self.url}: {exc.errors()[0]['msg']}"
            ) from exc

    def approve_enrollment(self, user_code: str, *, name: str) -> ApprovedDevice:
        data = self._request(
            "POST", f"/enrollments/{quote(user_code, safe='')}/approve", json={"name": name}
        )
        return self._parse(ApprovedDevice, data)

    def add_asset(
        self,
        path: Path,
        *,
        name: str | None = None,
        on_wait: Callable[[str, float], None] = lambda _reason, _seconds: None,
    ) -> AssetCreated:
        """Upload a file; its Content-Type is guessed from its name (or `name`).

        When the cloud cannot check the upload yet (429 with Retry-After), the upload is
        sent again after the wait it asks for, up to UPLOAD_TRIES in all; `on_wait` hears
        of each wait (the reason and the seconds)."""
        name = name or path.name
        content_type = mimetypes.guess_type(name)[0] or mimetypes.guess_type(path.name)[0]
        for attempt in range(1, UPLOAD_TRIES + 1):
            try:
                file = path.open("rb")
            except OSError as exc:
                raise AdminClientError(f"cannot read {path}: {exc.strerror or exc}") from exc
            with file:
                response = self._send(
                    "POST",
                    "/assets",
                    busy_ok=attempt < UPLOAD_TRIES,
                    params={"name": name},
                    content=file,
                    headers={"Content-Type": content_type or "application/octet-stream"},
                )
            if response.status_code != 429:
                break
            wait_s = _retry_after_s(response)
            if wait_s is None:
                raise AdminClientError(error_message(response))
            on_wait(error_message(response), wait_s)
            time.sleep(wait_s)
        return self._parse(AssetCreated, self._json(response))

    def add_stream(self, url: str, *, name: str) -> AssetCreated:
        """Add a stream by its URL; the cloud checks the URL (422 saying why) and never
        connects to it."""
        data = self._request("POST", "/assets/streams", json={"name": name, "url": url})
        return self._parse(AssetCreated, data)

    def _list(
        self, adapter: TypeAdapter[Any], path: str, params: dict[str, str] | None = None
    ) -> Any:
        data = self._request("GET", path, params=params)
        try:
            return adapter.validate_python(data)
        except ValidationError as exc:
            raise AdminClientError(f"unexpected answer from the cloud at {self.url}") from exc

    def create_playlist(self, name: str, items: list[NewPlaylistItem]) -> PlaylistCreated:
        try:
            playlist = NewPlaylist(name=name, items=items)
        except ValidationError as exc:
            raise AdminClientError(f"the playlist's {_first_problem(exc)}") from exc
        body = playlist.model_dump(mode="json")
        return self._parse(PlaylistCreated, self._request("POST", "/playlists", json=body))

    def list_assets(self) -> list[AssetSummary]:
        result: list[AssetSummary] = self._list(_ASSET_LIST, "/assets")
        return result

    def rename_asset(self, asset_id: str, name: str) -> AssetSummary:
        data = self._request("PATCH", f"/assets/{_part(asset_id)}", json={"name": name})
        return self._parse(AssetSummary, data)

    def delete_asset(self, asset_id: str, *, force: bool = False) -> AssetSummary:
        params = {"force": "true"} if force else None
        data = self._request("DELETE", f"/assets/{_part(asset_id)}", params=params)
        return self._parse(AssetSummary, data)

    def list_playlists(self) -> list[PlaylistSummary]:
        result: list[PlaylistSummary] = self._list(_PLAYLIST_LIST, "/playlists")
        return result

    def show_playlist(self, playlist_id: str) -> PlaylistDetail:
        return self._parse(PlaylistDetail, self._request("GET", f"/playlists/{_part(playlist_id)}"))

    def set_playlist_items(self, playlist_id: str, items: list[NewPlaylistItem]) -> PlaylistSummary:
        try:
            body = PlaylistItems(items=items).model_dump(mode="json")
        except ValidationError as exc:
            raise AdminClientError(f"the playlist's {_first_problem(exc)}") from exc
        data = self._request("PUT", f"/playlists/{_part(playlist_id)}/items", json=body)
        return self._parse(PlaylistSummary, data)

    def rename_playlist(self, playlist_id: str, name: str) -> PlaylistSummary:
        data = self._request("PATCH", f"/playlists/{_part(playlist_id)}", json={"name": name})
        return self._parse(PlaylistSummary, data)

    def delete_playlist(self, playlist_id: str) -> PlaylistSummary:
        return self._parse(
            PlaylistSummary, self._request("DELETE", f"/playlists/{_part(playlist_id)}")
        )

    def rename_device(self, device_id: str, name: str) -> DeviceSummary:
        data = self._request("PATCH", f"/devices/{_part(device_id)}", json={"name": name})
        return self._parse(DeviceSummary, data)

    def assign_playlist(self, device_id: str, playlist_id: str | None) -> DeviceSummary:
        data = self._request(
            "PUT",
            f"/devices/{quote(device_id, safe='')}/playlist",
            json={"playlist_id": playlist_id},
        )
        return self._parse(DeviceSummary, data)

    def remove_device(self, device_id: str) -> DeviceSummary:
        data = self._request("DELETE", f"/devices/{quote(device_id, safe='')}")
        return self._parse(DeviceSummary, data)

    def list_devices(self) -> list[DeviceListing]:
        result: list[DeviceListing] = self._list(_DEVICE_LIST, "/devices")
        return result

    def show_device(self, device_id: str) -> DeviceDetail:
        return self._parse(DeviceDetail, self._request("GET", f"/devices/{_part(device_id)}"))

    def set_device_settings(
        self,
        device_id: str,
        *,
        timezone: str | None = None,
        on_switch: str | None = None,
        rotation: int | Literal["screen"] | None = None,
        volume: int | Literal["screen"] | None = None,
    ) -> DeviceRecord:
        """Change what is given; a rotation or volume of "screen" goes back to the screen's
        own configuration."""
        given = {
            "timezone": timezone,
            "on_switch": on_switch,
            "rotation": rotation,
            "volume": volume,
        }
        fields = {key: value for key, value in given.items() if value is not None}
        for key in ("rotation", "volume"):
            if fields.get(key) == SCREEN_SETTING:
                fields[key] = None
        try:
            checked = DeviceSettings(**fields)
        except ValidationError as exc:
            raise AdminClientError(f"the device's {_first_problem(exc)}") from exc
        body = checked.model_dump(mode="json", exclude_unset=True)
        data = self._request("PATCH", f"/devices/{_part(device_id)}/settings", json=body)
        return self._parse(DeviceRecord, data)

    # --- groups -------------------------------------------------------------------------

    def create_group(self, name: str) -> GroupSummary:
        body = _body(NewGroup, "group", name=name)
        return self._parse(GroupSummary, self._request("POST", "/groups", json=body))

    def list_groups(self) -> list[GroupSummary]:
        result: list[GroupSummary] = self._list(_GROUP_LIST, "/groups")
        return result

    def change_group_devices(
        self,
        group_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> GroupSummary:
        body = _body(GroupMembers, "group's", add=list(add), remove=list(remove))
        data = self._request("PATCH", f"/groups/{_part(group_id)}/devices", json=body)
        return self._parse(GroupSummary, data)

    def assign_group_playlist(self, group_id: str, playlist_id: str | None) -> GroupSummary:
        data = self._request(
            "PUT", f"/groups/{_part(group_id)}/playlist", json={"playlist_id": playlist_id}
        )
        return self._parse(GroupSummary, data)

    def delete_group(self, group_id: str) -> GroupSummary:
        return self._parse(GroupSummary, self._request("DELETE", f"/groups/{_part(group_id)}"))

    # --- schedules ----------------------------------------------------------------------

    def add_schedule_entry(self, **fields: Any) -> ScheduleEntrySummary:
        """A new entry: the fields of `NewScheduleEntry` (device_id or group_id, ...)."""
        body = _body(NewScheduleEntry, "schedule entry's", **fields)
        return self._parse(ScheduleEntrySummary, self._request("POST", "/schedules", json=body))

    def list_schedule_entries(
        self, *, device_id: str | None = None, group_id: str | None = None
    ) -> list[ScheduleEntrySummary]:
        params = {"device_id": device_id, "group_id": group_id}
        given = {key: value for key, value in params.items() if value is not None}
        result: list[ScheduleEntrySummary] = self._list(_ENTRY_LIST, "/schedules", given)
        return result

    def delete_schedule_entry(self, entry_id: str) -> ScheduleEntrySummary:
        data = self._request("DELETE", f"/schedules/{_part(entry_id)}")
        return self._parse(ScheduleEntrySummary, data)

    # --- interrupts ---------------------------------------------------------------------

    def interrupt(
        self,
        *,
        playlist_id: str,
        device_id: str | None = None,
        group_id: str | None = None,
        until: str | None = None,
        for_s: float | None = None,
    ) -> InterruptSummary:
        """Interrupt a device or a group (exactly one) from now on."""
        body = _body(NewInterrupt, "interrupt's", playlist_id=playlist_id, until=until, for_s=for_s)
        data = self._request("PUT", f"{_target(device_id, group_id)}/interrupt", json=body)
        return self._parse(InterruptSummary, data)

    def clear_interrupt(
        self, *, device_id: str | None = None, group_id: str | None = None
    ) -> InterruptSummary:
        data = self._request("DELETE", f"{_target(device_id, group_id)}/interrupt")
        return self._parse(InterruptSummary, data)

    def list_interrupts(self) -> list[InterruptSummary]:
        result: list[InterruptSummary] = self._list(_INTERRUPT_LIST, "/interrupts")
        return result

    # --- commands -----------------------------------------------------------------------

    def send_command(
        self,
        kind: str,
        *,
        args: dict[str, Any] | None = None,
        device_id: str | None = None,
        group_id: str | None = None,
        expires_in_s: int | None = None,
    ) -> CommandDetail:
        """Send a command to a device or a group (exactly one)."""
        body = _body(
            NewCommand,
            "command's",
            kind=kind,
            args=args,
            device_id=device_id,
            group_id=group_id,
            expires_in_s=expires_in_s,
        )
        return self._parse(CommandDetail, self._request("POST", "/commands", json=body))

    def show_command(self, command_id: str, *, wait_s: int = 0) -> CommandDetail:
        """The command and its results; with `wait_s`, the cloud holds the answer until every
        device answered for good, the command expired, or `wait_s` passed."""
        params = {"wait": str(wait_s)} if wait_s else None
        timeout = httpx.Timeout(TIMEOUT.read + wait_s, connect=TIMEOUT.connect)
        data = self._request(
            "GET", f"/commands/{_part(command_id)}", params=params, timeout=timeout
        )
        return self._parse(CommandDetail, data)

    def list_commands(
        self,
        *,
        device_id: str | None = None,
        group_id: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> CommandListing:
        """A page of the tenant's commands, newest first (all, a device's, or a group's)."""
        params = _given(device_id=device_id, group_id=group_id, limit=limit, after=after)
        return self._parse(CommandListing, self._request("GET", "/commands", params=params))

    def newest_commands(
        self, count: int, *, device_id: str | None = None, group_id: str | None = None
    ) -> list[CommandSummary]:
        """The newest `count` commands (fewer if there are not as many), page after page."""
        found: list[CommandSummary] = []
        after = None
        while len(found) < count:
            page = self.list_commands(
                device_id=device_id,
                group_id=group_id,
                limit=min(MAX_COMMAND_PAGE, count - len(found)),
                after=after,
            )
            found += page.commands
            if page.next is None:
                break
            after = page.next
        return found[:count]

    def cancel_command(self, command_id: str) -> CommandCancelled:
        """Cancel a command for the devices that have not started it (idempotent)."""
        data = self._request("POST", f"/commands/{_part(command_id)}/cancel")
        return self._parse(CommandCancelled, data)

    def command_attachment(self, command_id: str, device_id: str) -> tuple[str, bytes]:
        """(content type, bytes) the device uploaded for the command."""
        response = self._send(
            "GET", f"/commands/{_part(command_id)}/devices/{_part(device_id)}/attachment"
        )
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        return content_type, response.content

    # --- reports ------------------------------------------------------------------------

    def report_plays(
        self, *, limit: int | None = None, after: str | None = None, **filters: Any
    ) -> PlayReport:
        """A page of play events: `since` (required), `until`, `device_id`, `group_id`,
        `asset_id` as in `GET /reports/plays`."""
        params = _given(**filters, limit=limit, after=after)
        return self._parse(PlayReport, self._request("GET", "/reports/plays", params=params))

    def all_plays(self, **filters: Any) -> Iterator[PlayRecord]:
        """Every play event the filters select, page after page."""
        after = None
        while True:
            page = self.report_plays(after=after, **filters)
            yield from page.plays
            if page.next is None:
                return
            after = page.next

    def plays_summary(self, **filters: Any) -> PlaySummary:
        """Plays per asset and day: `since` (required), `until`, `device_id`, `group_id`,
        `asset_id`."""
        data = self._request("GET", "/reports/plays/summary", params=_given(**filters))
        return self._parse(PlaySummary, data)

    # --- keys ---------------------------------------------------------------------------

    def create_key(self, role: Role, *, name: str = "") -> KeyCreated:
        try:
            body = NewKey(role=role, name=name).model_dump(mode="json")
        except ValidationError as exc:
            raise AdminClientError(f"the key's {_first_problem(exc)}") from exc
        return self._parse(KeyCreated, self._request("POST", "/keys", json=body))

    def list_keys(self) -> list[KeySummary]:
        result: list[KeySummary] = self._list(_KEY_LIST, "/keys")
        return result

    def revoke_key(self, key_id: str) -> KeySummary:
        return self._parse(KeySummary, self._request("DELETE", f"/keys/{_part(key_id)}"))


def _part(text: str) -> str:
    """`text` as one path segment."""
    return quote(text, safe="")


def _given(**params: Any) -> dict[str, str]:
    """Query parameters, those that are None left out."""
    return {name: str(value) for name, value in params.items() if value is not None}


def _target(device_id: str | None, group_id: str | None) -> str:
    if (device_id is None) == (group_id is None):
        raise AdminClientError("name a device or a group (one of them)")
    if device_id is not None:
        return f"/devices/{_part(device_id)}"
    return f"/groups/{_part(str(group_id))}"


# A rotation or volume setting that leaves it to the screen's own configuration.
SCREEN_SETTING = "screen"


def _body(model: type[BaseModel], what: str, **fields: Any) -> Any:
    """`fields` checked by `model` before they are sent, as JSON (unset fields left out)."""
    try:
        checked = model(**{key: value for key, value in fields.items() if value is not None})
    except ValidationError as exc:
        raise AdminClientError(f"the {what} {_first_problem(exc)}") from exc
    return checked.model_dump(mode="json", exclude_unset=True)


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


__all__ = ["DEFAULT_URL", "SCREEN_SETTING", "AdminClient", "error_message"]
