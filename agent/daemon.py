"""The daemon: the one place that builds the system and runs it.

config → store → device key → HTTP client → renderer → player, started in that order and
stopped in reverse. Then: show what the cache already holds (the screen plays offline from
the first second), enroll if the device holds no tokens, and keep the local state in step
with the cloud. The player reads only local state, so a cloud that vanishes for weeks never
stops the screen.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from agent.config import AgentConfig
from agent.enrollment import Enrollment, backoff
from agent.memory import resident_mib, trim_heap
from agent.store import CachedItem, Store
from agent.systemd import notify, watchdog_interval_s
from player import (
    PlayableItem,
    Player,
    PlayerState,
    ScreenMessage,
    VlcRenderer,
    choose_video_output,
)
from sync.client import DeviceClient, DeviceTokens
from sync.downloads import blob_path, download_blob
from sync.errors import CloudResponseError, CloudUnreachable, DownloadError, Unauthorized
from sync.identity import DeviceKey
from sync.models import DeviceAuthorization

log = logging.getLogger(__name__)

HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
HEAP_TRIM_INTERVAL_S = 5.0


def cache_dir(state_dir: Path) -> Path:
    return state_dir / "content"


def enrollment_message(grant: DeviceAuthorization) -> ScreenMessage:
    return ScreenMessage(
        title="Enroll this screen",
        headline=grant.user_code,
        lines=("Enter this code in the admin portal", grant.verification_uri),
    )


def no_content_message(device_name: str | None) -> ScreenMessage:
    return ScreenMessage(
        title=device_name or "This screen",
        headline="No content yet",
        lines=("Assign a playlist to this screen in the admin portal",),
    )


def connecting_message(cloud_url: str) -> ScreenMessage:
    return ScreenMessage(
        title="Setting up this screen",
        headline="Connecting…",
        lines=(f"Reaching {cloud_url} to get an enrollment code",),
    )


def playable_items(items: Sequence[CachedItem], content_dir: Path) -> list[PlayableItem]:
    """The entries whose verified blob is on disk; the others are skipped, never shown broken."""
    playable = []
    for item in items:
        path = blob_path(content_dir, item.sha256)
        if path.exists() and item.media_type in ("video", "image"):
            playable.append(
                PlayableItem(
                    key=f"{item.playlist_id}:{item.position}",
                    name=item.name,
                    sha256=item.sha256,
                    media_type=item.media_type,  # type: ignore[arg-type]
                    path=path,
                    duration_ms=item.duration_ms,
                )
            )
    return playable


def poll_again_now(changed: bool, held_s: float, long_poll_s: int) -> bool:
    """Whether to ask the cloud again at once rather than after `sync_interval_s`.

    At once after a change (more may follow) and after a long-poll the cloud really held;
    not after a quick "nothing changed", which means long-poll is off or the cloud does not
    support it: asking again at once would spin.
    """
    return changed or (long_poll_s > 0 and held_s >= long_poll_s / 2)


class PlayLog:
    """Writes what the player reports into the store (the play log, and now-playing for status).

    Times are put on the cloud's clock (`clock_offset_s()`, from its `Date` header) as soon
    as it is known: proof of play from a Pi whose own clock is years off must still be right.
    """

    def __init__(self, store: Store, *, clock_offset_s: Callable[[], float | None]) -> None:
        self._store = store
        self._clock_offset_s = clock_offset_s

    def _record(self, event: str, item: PlayableItem, at: datetime, **extra: Any) -> None:
        at_on_cloud_clock = at + timedelta(seconds=self._clock_offset_s() or 0.0)
        self._store.record_play_event(
            event, item_key=item.key, name=item.name, sha256=item.sha256, at=at_on_cloud_clock,
            **extra,
        )  # fmt: skip

    def item_started(self, item: PlayableItem, started_at: datetime) -> None:
        self._record("started", item, started_at)

    def item_ended(self, item: PlayableItem, ended_at: datetime, played_ms: int) -> None:
        self._record("ended", item, ended_at, played_ms=played_ms)

    def item_failed(self, item: PlayableItem, reason: str) -> None:
        self._record("failed", item, datetime.now(UTC), detail=reason)


class Daemon:
    def __init__(
        self,
        *,
        config: AgentConfig,
        store: Store,
        client: DeviceClient,
        player: Player,
    ) -> None:
        self._config = config
        self._store = store
        self._client = client
        self._player = player
        self._content_dir = cache_dir(config.state_dir)
        self._shown: tuple[PlayableItem, ...] | None = None

    async def run(self) -> None:
        """Run until cancelled; raise if the player stops on its own (the screen would be dead)."""
        self._refresh_player()
        tasks = [
            asyncio.create_task(self._player.run(), name="player"),
            asyncio.create_task(self._keep_in_sync(), name="sync"),
            asyncio.create_task(self._trim_heap_forever(), name="heap-trim"),
            asyncio.create_task(self._report_to_systemd(), name="systemd"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raises what ended it
            names = ", ".join(task.get_name() for task in done)
            raise RuntimeError(f"the agent's {names} task ended by itself")
        finally:
            notify("STOPPING=1")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _report_to_systemd(self) -> None:
        """READY=1 once the screen shows something, then watchdog pings from this loop."""
        while self._player.state == PlayerState.NEW:  # noqa: ASYNC110 (no start event; start-up only)
            await asyncio.sleep(0.05)
        notify("READY=1", f"STATUS=player {self._player.state}")
        interval = watchdog_interval_s()
        if interval is None:
            return await asyncio.Event().wait()  # no watchdog: just stay alive with the others
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _keep_in_sync(self) -> None:
        while True:
            if self._client.tokens is None:
                await self._enroll()
            try:
                await self._sync_forever()
            except Unauthorized as exc:
                self._client.tokens = None
                if exc.device_removed:
                    self._forget_device(exc)
                else:
                    log.error("%s; enrolling again (cached content keeps playing)", exc)
                    self._store.forget_tokens()

    def _forget_device(self, exc: Unauthorized) -> None:
        """An admin removed this screen: its tenant's content goes, and it enrolls afresh."""
        tenant = self._store.get("tenant_id")
        self._store.forget_device()
        removed = 0
        for path in self._content_dir.glob("*"):
            path.unlink(missing_ok=True)
            removed += 1
        log.error(
            "%s: deleted the %d content files of tenant %s; showing a new enrollment code",
            exc, removed, tenant,
        )  # fmt: skip
        self._refresh_player()

    @staticmethod
    async def _trim_heap_forever() -> None:
        """Give the picture buffers libvlc freed back to the system (see agent.memory)."""
        while True:
            await asyncio.sleep(HEAP_TRIM_INTERVAL_S)
            before = resident_mib()
            if await asyncio.to_thread(trim_heap) is None:
                return await asyncio.Event().wait()  # not glibc: nothing to trim, stay alive
            log.debug("heap trimmed: resident %.0f -> %.0f MiB", before or 0, resident_mib() or 0)

    async def _enroll(self) -> None:
        def show_code(grant: DeviceAuthorization) -> None:
            log.info(
                "enrollment code %s: enter it in the admin portal (%s); valid %d min",
                grant.user_code,
                grant.verification_uri,
                grant.expires_in // 60,
            )
            self._store.set_many(
                {"enrollment_code": grant.user_code, "enrollment_uri": grant.verification_uri}
            )
            # shown whenever the playlist is empty; cached content keeps playing meanwhile
            self._player.show_message(enrollment_message(grant))

        await Enrollment(client=self._client, show_code=show_code).run()

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
            except Unauthorized:
                raise
            except (CloudUnreachable, CloudResponseError) as exc:
                failures += 1
                wait = max(self._config.sync_interval_s, backoff(failures))
                log.warning(
                    "sync failed: %s; playing what is cached, retrying in %.0f s", exc, wait
                )
                await asyncio.sleep(wait)

    async def sync_once(self) -> bool:
        """One round: fetch the state if it changed, fetch missing blobs, update the player.

        With long-poll on, the cloud holds the request until something changes (or
        `long_poll_s` passes). True when the state changed.
        """
        snapshot = await self._client.get_state(
            self._store.get("cursor"), wait_s=self._config.long_poll_s
        )
        if snapshot is not None:
            self._store.apply_snapshot(snapshot)
            playlist = snapshot.playlist
            log.info(
                "synced state %s: playlist %s with %d items, %d assets",
                snapshot.cursor,
                f'"{playlist.name}"' if playlist else "(none)",
                len(playlist.items) if playlist else 0,
                len(snapshot.assets),
            )
        await self._download_missing()
        self._refresh_player()
        self._note_clock_offset()
        return snapshot is not None

    def _note_clock_offset(self) -> None:
        """Keep the cloud-clock offset in the store for `status`, when it moved by over 2 s."""
        offset = self._client.clock_offset_s
        stored = self._store.get("clock_offset_s")
        if offset is None or (stored is not None and abs(float(stored) - offset) <= 2):
            return
        self._store.set_many({"clock_offset_s": f"{offset:.1f}"})
        if abs(offset) > 60:
            log.warning(
                "this device's clock is %+.0f s off the cloud's: play times are corrected", -offset
            )

    async def _download_missing(self) -> None:
        for sha256 in sorted(self._store.referenced_sha256s()):
            if blob_path(self._content_dir, sha256).exists():
                continue
            try:
                path = await download_blob(self._client, sha256, self._content_dir)
            except DownloadError as exc:
                log.warning("%s; items using it are skipped until then", exc)
                continue
            log.info("downloaded blob %s (%d bytes)", sha256[:12], path.stat().st_size)

    def _refresh_player(self) -> None:
        items = tuple(playable_items(self._store.playlist_items(), self._content_dir))
        if items == self._shown:
            return
        self._shown = items
        if not items:
            self._player.show_message(
                no_content_message(self._store.get("device_name"))
                if self._client.tokens is not None
                else connecting_message(self._config.cloud_url)
            )
        self._player.set_playlist(items)


async def run_daemon(config: AgentConfig) -> None:
    """Build the agent from `config`, run it until cancelled, then take it down in reverse."""
    if config.cloud_is_plain_http_remote:
        log.warning(
            "cloud_url %s is plain http to a remote host: tokens cross the network unencrypted",
            config.cloud_url,
        )
    store = Store.open(config.state_dir)
    try:
        key = DeviceKey.load_or_create(config.state_dir)
        # the renderer logs the choice and its reason in one line
        output = choose_video_output(config.video_output, environ=os.environ)
        renderer = VlcRenderer(video_output=output, messages_dir=config.state_dir / "messages")
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            client = DeviceClient(
                http=http,
                base_url=config.cloud_url,
                key=key,
                tokens=store.tokens(),
                on_tokens=store.save_tokens,
            )
            play_log = PlayLog(store, clock_offset_s=lambda: client.clock_offset_s)
            player = Player(renderer=renderer, listener=play_log)
            tokens: DeviceTokens | None = client.tokens
            log.info(
                "agent starting: state %s, cloud %s, %s",
                config.state_dir,
                config.cloud_url,
                f"device {tokens.device_id}" if tokens else "not enrolled yet",
            )
            await Daemon(config=config, store=store, client=client, player=player).run()
    finally:
        store.close()


__all__ = ["Daemon", "PlayLog", "cache_dir", "playable_items", "poll_again_now", "run_daemon"]
