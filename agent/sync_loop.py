"""Keeping the local state in step with the cloud.

Without tokens, enroll (showing the code); with them, ask for the state (long-poll), apply
each answer to the store in one transaction, hand the blobs it uses to the downloader and
the items to the screen. What the cloud sends was validated where it entered
(`sync.models`): an answer that fails is rejected whole and nothing of it is applied. Every
failure is one log line and a retry with backoff; nothing the cloud sends ends this loop.
The cached content keeps playing throughout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from agent.backoff import jittered
from agent.config import AgentConfig
from agent.connection import Connection, ConnectionState
from agent.content_cache import ContentCache
from agent.downloads import Downloader
from agent.enrollment import Enrollment
from agent.errors import StoreError
from agent.schedule_runner import ScheduleRunner
from agent.screen import Screen, message_for, this_device
from agent.store import Meta, Store
from sync.client import DeviceClient, DeviceTokens
from sync.errors import CloudResponseError, CursorExpired, SyncError, Unauthorized
from sync.models import DeviceAuthorization, DeviceRecord, StatePage

log = logging.getLogger(__name__)

# A code shown before a restart is shown again only when it stays valid this long.
RESUME_GRANT_MIN_S = 60
# At most one screen refresh per this many seconds while blobs land.
BLOB_REFRESH_EVERY_S = 1.0
# The stored clock offset is rewritten when it moved by more than this.
CLOCK_NOTE_STEP_S = 0.5


def poll_again_now(changed: bool, held_s: float, long_poll_s: int) -> bool:
    """Whether to ask the cloud again at once rather than after `sync_interval_s`.

    At once after a change (more may follow) and after a long-poll the cloud really held;
    not after a quick "nothing changed", which means long-poll is off or the cloud does not
    support it: asking again at once would spin.
    """
    return changed or (long_poll_s > 0 and held_s >= long_poll_s / 2)


def check_tenant(page: StatePage, tokens: DeviceTokens | None) -> None:
    """A page must not carry another device's or tenant's record: if it does, reject it whole."""
    for change in page.changes:
        record = change.object
        if (
            isinstance(record, DeviceRecord)
            and tokens is not None
            and (record.tenant_id != tokens.tenant_id or record.id != tokens.device_id)
        ):
            raise CloudResponseError(
                f"the state answer names device {record.id!r:.70} of tenant "
                f"{record.tenant_id!r:.70}, not this one: rejected whole"
            )


class SyncLoop:
    """Runs until cancelled; the one task that talks to the cloud about state."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        store: Store,
        client: DeviceClient,
        cache: ContentCache,
        screen: Screen,
        downloader: Downloader,
        schedule: ScheduleRunner,
        on_page: Callable[[], None] = lambda: None,
        on_connection: Callable[[ConnectionState], None] = lambda _: None,
    ) -> None:
        """`on_page` hears of each page applied (the command runner looks at what it holds);
        `on_connection` hears each flip between reaching the cloud and not (the report
        uploader retries at once, the heartbeat tells the cloud)."""
        self._config = config
        self._store = store
        self._client = client
        self._cache = cache
        self._screen = screen
        self._downloader = downloader
        self._schedule = schedule
        self._grant: DeviceAuthorization | None = None
        self._refresh_pending: asyncio.TimerHandle | None = None
        self._last_blob_refresh = float("-inf")
        self._on_connection = on_connection
        self._on_page = on_page
        self._poll: asyncio.Future[StatePage | None] | None = None
        self._poll_again_now = False
        # our time.time() at the last answer to a state request (the heartbeat's last sync)
        self.synced_at: float | None = None
        # a flip between online and offline changes the message, never the items
        self.connection = Connection(store, on_change=self._connection_changed)

    def _connection_changed(self, state: ConnectionState) -> None:
        self._refresh_message()
        self._on_connection(state)

    # --- what the screen shows ------------------------------------------------------

    def refresh_screen(self) -> None:
        """Give the screen the cached items and the message for the agent's situation."""
        self._refresh_message()
        self._refresh_items()

    def _refresh_items(self) -> None:
        self._schedule.evaluate()

    def _refresh_message(self) -> None:
        self._screen.show_message(
            message_for(
                enrolled=self._client.tokens is not None,
                device_name=self._store.get(Meta.DEVICE_NAME),
                grant=self._grant,
                connection=self.connection.state,
                cloud_url=self._config.cloud_url,
            )
        )

    def blob_ready(self) -> None:
        """A blob landed: show its items soon. Many landing together cost one refresh a second
        (each refresh maps the whole playlist), the first at once."""
        if self._refresh_pending is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_blob_refresh + BLOB_REFRESH_EVERY_S - loop.time())
        self._refresh_pending = loop.call_later(delay, self._refresh_after_blobs)

    def _refresh_after_blobs(self) -> None:
        self._refresh_pending = None
        self._last_blob_refresh = asyncio.get_running_loop().time()
        self._refresh_items()  # a blob changes what is playable, not the message

    # --- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Sync until cancelled; the daemon has already called `refresh_screen` once."""
        self.want_blobs()
        while True:
            if self._client.tokens is None:
                await self._enroll()
            try:
                await self._sync_forever()
            except Unauthorized as exc:
                self._client.forget_tokens()
                if exc.device_removed:
                    self._forget_device(exc)
                else:
                    log.error("%s; enrolling again (cached content keeps playing)", exc)
                self.refresh_screen()

    async def _enroll(self) -> None:
        def show_code(grant: DeviceAuthorization) -> None:
            log.info(
                "enrollment code %s: enter it in the admin portal (%s); valid %d min",
                grant.user_code,
                grant.verification_uri,
                grant.expires_in // 60,
            )
            self._grant = grant
            pending = {"grant": grant.model_dump(), "received_at": time.time()}
            self._save({Meta.ENROLLMENT_CODE: grant.user_code,
                        Meta.ENROLLMENT_URI: grant.verification_uri,
                        Meta.PENDING_GRANT: json.dumps(pending)})  # fmt: skip
            self.refresh_screen()  # cached content, if any, keeps playing meanwhile

        def report(error: Exception | None) -> None:
            if error is None:
                self.connection.succeeded()
            else:
                self.connection.failed(error)

        enrollment = Enrollment(
            client=self._client, show_code=show_code, report=report, description=this_device()
        )
        await enrollment.run(resume=self._pending_grant())
        self._grant = None
        self.refresh_screen()  # "No content yet" at once, before the first state arrives

    def _pending_grant(self) -> DeviceAuthorization | None:
        """The code shown before a restart, when it is still valid for a while."""
        saved = self._store.get_json(Meta.PENDING_GRANT)
        try:
            grant = DeviceAuthorization.model_validate(saved["grant"])
            left = grant.expires_in - (time.time() - float(saved["received_at"]))
        except (TypeError, KeyError, ValueError):
            return None
        if not RESUME_GRANT_MIN_S <= left <= grant.expires_in:
            return None  # nearly expired, or the clock moved backwards: ask for a new one
        return grant.model_copy(update={"expires_in": int(left)})

    def _forget_device(self, exc: Unauthorized) -> None:
        """An admin removed this screen: its tenant's content goes, and it enrolls afresh."""
        tenant = self._store.get(Meta.TENANT_ID)
        self._store.forget_device()
        self._downloader.want({})
        removed = self._cache.wipe()
        log.error(
            "%s: deleted the %d content files of tenant %s; showing a new enrollment code",
            exc, removed, tenant,
        )  # fmt: skip

    async def _sync_forever(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            try:
                asked_at = loop.time()
                changed = await self.sync_once()
                failures = 0
                if not poll_again_now(changed, loop.time() - asked_at, self._config.long_poll_s):
                    await asyncio.sleep(self._config.sync_interval_s)
                continue
            except Unauthorized:
                raise
            except (SyncError, StoreError) as exc:
                failures += 1
                reason = str(exc)
                if isinstance(exc, SyncError):
                    self.connection.failed(exc)
            except Exception as exc:  # a bug must not stop syncing: log it, retry later
                failures += 1
                reason = f"unexpected {type(exc).__name__}: {exc}"
                log.debug("sync round failed", exc_info=True)
            wait = jittered(failures)
            log.warning("sync failed: %s; playing what is cached, retrying in %.0f s", reason, wait)
            await asyncio.sleep(wait)

    async def sync_once(self) -> bool:
        """One round: fetch the next page of changes and apply it. True when one came.

        With long-poll on, the cloud holds the request until something changes (or
        `long_poll_s` passes). Without a cursor (first start, or after a 410) the cloud
        sends a full listing, page after page, and what it does not name is deleted.
        """
        cursor = self._store.get(Meta.CURSOR)
        self._poll = asyncio.ensure_future(
            self._client.get_state(cursor, wait_s=self._config.long_poll_s)
        )
        try:
            page = await self._poll
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._poll_again_now or (task is not None and task.cancelling()):
                raise  # the loop itself is being stopped (perhaps as `poll_now` came)
            self._poll_again_now = False
            return True  # `poll_now`: ask again at once
        except CursorExpired as exc:
            self.connection.succeeded()
            log.warning("%s; asking for a full listing", exc)
            self._save({Meta.CURSOR: None})
            return True
        self.connection.succeeded()
        self._note_clock_offset()
        if page is None:
            self.synced_at = time.time()
            return False
        check_tenant(page, self._client.tokens)
        result = self._store.apply_page(page, starts_listing=cursor is None)
        for kind, count in result.unknown_kinds.items():
            log.info("skipped %d change(s) of kind %r, which this agent does not know", count, kind)
        if result.applied or result.reconciled or page.full:
            log.info(
                "synced to %s: %d change(s) applied%s%s%s",
                page.cursor[:40],
                result.applied,
                f", {result.stale} already held" if result.stale else "",
                f", {result.reconciled} removed after a full listing" if result.reconciled else "",
                ", more to come" if page.more else "",
            )
        self.synced_at = time.time()
        if result.screen_changed:
            self._schedule.reload()  # before the blobs: those of what plays now come first
            self.want_blobs()
            self.refresh_screen()
        self._on_page()
        return True

    def poll_now(self) -> None:
        """Ask the cloud again at once (a `sync-now` command): a held long-poll is dropped."""
        poll = self._poll
        if poll is not None and not poll.done():
            self._poll_again_now = True
            poll.cancel()

    def want_blobs(self) -> None:
        """Hand the downloader every blob held, those of the playlist in force first."""
        self._downloader.want(self._store.referenced_blobs(self._schedule.playlist_id))

    def _note_clock_offset(self) -> None:
        """Keep the cloud-clock offset in the store for `status` when it moved."""
        offset = self._client.clock_offset_s
        stored = self._store.get(Meta.CLOCK_OFFSET_S)
        if offset is None or (
            stored is not None and abs(float(stored) - offset) <= CLOCK_NOTE_STEP_S
        ):
            return
        self._save({Meta.CLOCK_OFFSET_S: f"{offset:.2f}"})
        self._schedule.evaluate()  # the time the schedule follows may have moved
        if abs(offset) > 60 and (stored is None or abs(float(stored)) <= 60):
            log.warning(
                "this device's clock is %+.0f s off the cloud's: play times are corrected", -offset
            )

    def _save(self, values: dict[Meta, str | None]) -> None:
        try:
            self._store.set_many(values)
        except StoreError as exc:
            log.warning("%s", exc)


__all__ = ["SyncLoop", "check_tenant", "poll_again_now"]
