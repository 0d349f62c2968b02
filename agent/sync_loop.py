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
import logging

from agent.backoff import backoff
from agent.config import AgentConfig
from agent.connection import Connection
from agent.content_cache import ContentCache
from agent.downloads import Downloader
from agent.enrollment import Enrollment
from agent.errors import StoreError
from agent.screen import Screen, message_for
from agent.store import Meta, Store
from sync.client import DeviceClient
from sync.errors import SyncError, Unauthorized
from sync.models import DeviceAuthorization

log = logging.getLogger(__name__)

# The stored clock offset is rewritten when it moved by more than this.
CLOCK_NOTE_STEP_S = 0.5


def poll_again_now(changed: bool, held_s: float, long_poll_s: int) -> bool:
    """Whether to ask the cloud again at once rather than after `sync_interval_s`.

    At once after a change (more may follow) and after a long-poll the cloud really held;
    not after a quick "nothing changed", which means long-poll is off or the cloud does not
    support it: asking again at once would spin.
    """
    return changed or (long_poll_s > 0 and held_s >= long_poll_s / 2)


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
    ) -> None:
        self._config = config
        self._store = store
        self._client = client
        self._cache = cache
        self._screen = screen
        self._downloader = downloader
        self._grant: DeviceAuthorization | None = None
        self.connection = Connection(store, on_change=lambda _: self.refresh_screen())

    # --- what the screen shows ------------------------------------------------------

    def refresh_screen(self) -> None:
        """Give the screen the cached items and the message for the agent's situation."""
        self._screen.show_message(
            message_for(
                enrolled=self._client.tokens is not None,
                device_name=self._store.get(Meta.DEVICE_NAME),
                grant=self._grant,
                connection=self.connection.state,
                cloud_url=self._config.cloud_url,
            )
        )
        self._screen.show_items(self._store.playlist_items())

    # --- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        self._downloader.want(self._store.referenced_blobs())
        self.refresh_screen()
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
            self._save({Meta.ENROLLMENT_CODE: grant.user_code,
                        Meta.ENROLLMENT_URI: grant.verification_uri})  # fmt: skip
            self.refresh_screen()  # cached content, if any, keeps playing meanwhile

        def report(error: Exception | None) -> None:
            if error is None:
                self.connection.succeeded()
            else:
                self.connection.failed(error)

        await Enrollment(client=self._client, show_code=show_code, report=report).run()
        self._grant = None
        self.refresh_screen()  # "No content yet" at once, before the first state arrives

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
            wait = max(self._config.sync_interval_s, backoff(failures))
            log.warning("sync failed: %s; playing what is cached, retrying in %.0f s", reason, wait)
            await asyncio.sleep(wait)

    async def sync_once(self) -> bool:
        """One round: fetch the state if it changed and apply it. True when it changed.

        With long-poll on, the cloud holds the request until something changes (or
        `long_poll_s` passes).
        """
        snapshot = await self._client.get_state(
            self._store.get(Meta.CURSOR), wait_s=self._config.long_poll_s
        )
        self.connection.succeeded()
        self._note_clock_offset()
        if snapshot is None:
            return False
        self._store.apply_snapshot(snapshot)
        playlist = snapshot.playlist
        log.info(
            "synced state %s: playlist %s with %d items, %d assets",
            snapshot.cursor,
            f'"{playlist.name}"' if playlist else "(none)",
            len(playlist.items) if playlist else 0,
            len(snapshot.assets),
        )
        self._downloader.want(self._store.referenced_blobs())
        self.refresh_screen()
        return True

    def _note_clock_offset(self) -> None:
        """Keep the cloud-clock offset in the store for `status` when it moved."""
        offset = self._client.clock_offset_s
        stored = self._store.get(Meta.CLOCK_OFFSET_S)
        if offset is None or (
            stored is not None and abs(float(stored) - offset) <= CLOCK_NOTE_STEP_S
        ):
            return
        self._save({Meta.CLOCK_OFFSET_S: f"{offset:.2f}"})
        if abs(offset) > 60 and (stored is None or abs(float(stored)) <= 60):
            log.warning(
                "this device's clock is %+.0f s off the cloud's: play times are corrected", -offset
            )

    def _save(self, values: dict[Meta, str | None]) -> None:
        try:
            self._store.set_many(values)
        except StoreError as exc:
            log.warning("%s", exc)


__all__ = ["SyncLoop", "poll_again_now"]
