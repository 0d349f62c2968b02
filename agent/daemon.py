"""The daemon: the one place that builds the system and supervises it.

config → lock → store → device key → HTTP client → outbox → play log → renderer → player →
screen → downloader → sync loop → report uploader → heartbeats, started in that order and
stopped in reverse. Each concern lives in its own module (`sync_loop`, `downloads`,
`content_cache`, `play_log`, `outbox`, `report_uploader`, `heartbeat`, `screen`,
`connection`, `memory`, `systemd`); this one only composes them. The player reads only
local state, so a cloud that vanishes for weeks never stops the screen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Coroutine
from typing import Any

import httpx

from agent.clock import CloudClock, ScheduleClock
from agent.commands import CommandRunner
from agent.config import AgentConfig
from agent.connection import ConnectionState
from agent.content_cache import ContentCache, Quota, collect_forever
from agent.control import ControlServer
from agent.downloads import Downloader
from agent.errors import RestartRequested, StoreError
from agent.heartbeat import Heartbeats, StatusReader
from agent.instance_lock import InstanceLock
from agent.log_buffer import find_log_buffer
from agent.memory import bound_heap, trim_heap_forever
from agent.outbox import Outbox
from agent.play_log import PlayLog
from agent.privileged import HelperClient
from agent.report_uploader import ReportUploader
from agent.schedule_runner import ScheduleRunner
from agent.screen import Screen
from agent.screen_settings import ScreenSettings
from agent.store import Meta, Store
from agent.sync_loop import SyncLoop
from agent.systemd import notify, report_forever
from agent.waiting import wait_event
from player import Player, ScreenMessage, VlcRenderer, choose_video_output
from sync.client import DeviceClient
from sync.identity import DeviceKey

log = logging.getLogger(__name__)

HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


async def supervise(tasks: dict[str, Coroutine[Any, Any, None]]) -> None:
    """Run `tasks` until cancelled; raise if one ends by itself (the screen would be dead)."""
    running = [asyncio.create_task(coro, name=name) for name, coro in tasks.items()]
    try:
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # re-raises what ended it
        names = ", ".join(task.get_name() for task in done)
        raise RuntimeError(f"the agent's {names} task ended by itself")
    finally:
        notify("STOPPING=1")
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def report_cache_forever(
    store: Store,
    downloader: Downloader,
    cache: ContentCache,
    every_s: float = 2.0,
    idle_every_s: float = 30.0,
) -> None:
    """Keep download progress and cache use in the store for `status`, when they change:
    every `every_s` while blobs are missing, every `idle_every_s` otherwise (a screen with
    everything in its cache wakes for this twice a minute)."""
    last: tuple[object, object] | None = None
    failing = False
    while True:
        usage = cache.usage()
        now = (downloader.progress(), {"used_bytes": usage.used_bytes, "blobs": usage.blobs,
                                       "limit_bytes": usage.limit_bytes})  # fmt: skip
        if now != last:
            try:
                store.set_many({Meta.DOWNLOADS: json.dumps(now[0]), Meta.CACHE: json.dumps(now[1])})
                last, failing = now, False
            except StoreError as exc:
                if not failing:  # once, not every round, while the disk stays full
                    log.warning("%s; status will show older figures until it can", exc)
                failing = True
        downloader.wants_changed.clear()
        if now[0]["pending"]:
            await asyncio.sleep(every_s)
        else:  # everything is here: until a new playlist wants more, or a while
            await wait_event(downloader.wants_changed, idle_every_s)


def describe(player: Player, store: Store, playlist_id: str | None) -> str:
    """One line for `systemctl status`: what is on screen."""
    playing = player.now_playing
    if playing is not None:
        items = player.playlist
        index = next((n for n, i in enumerate(items) if i.key == playing.item.key), None)
        where = f", item {index + 1}/{len(items)}" if index is not None else ""
        playlist = store.playlist_name(playlist_id) or "playlist"
        return f"playing {playlist}{where}: {playing.item.name}"[:200]
    message = store.get_json(Meta.SCREEN_MESSAGE)
    if isinstance(message, dict):
        return f"showing {message.get('title')}: {message.get('headline')}"[:200]
    return f"player {player.state}"


def save_message(store: Store, message: ScreenMessage) -> None:
    """Keep the message the screen shows when nothing plays, for `status`."""
    value = {"title": message.title, "headline": message.headline, "lines": list(message.lines)}
    try:
        store.set_json(Meta.SCREEN_MESSAGE, value)
    except StoreError as exc:
        log.warning("%s", exc)


async def run_daemon(config: AgentConfig) -> None:
    """Build the agent from `config`, run it until cancelled, then take it down in reverse."""
    if config.cloud_is_plain_http_remote:
        log.warning(
            "cloud_url %s is plain http to a remote host: tokens cross the network unencrypted",
            config.cloud_url,
        )
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = InstanceLock(config.state_dir)
    lock.acquire()
    try:
        store = Store.open(config.state_dir)
        try:
            await _run(config, store)
        finally:
            store.close()
    finally:
        lock.release()


async def _run(config: AgentConfig, store: Store) -> None:
    bound_heap()  # before libvlc allocates its first picture
    key = DeviceKey.load_or_create(config.state_dir)
    # the renderer logs the choice and its reason in one line
    output = choose_video_output(config.video_output, environ=os.environ)
    screen_settings = ScreenSettings(store, rotation=config.rotation, volume=config.volume)
    rotation, volume = screen_settings.at_start()
    renderer = VlcRenderer(
        video_output=output,
        messages_dir=config.state_dir / "messages",
        rotation=rotation,
        volume=volume,
    )
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        client = DeviceClient(
            http=http,
            base_url=config.cloud_url,
            key=key,
            tokens=store.tokens(),
            on_tokens=store.save_tokens,
            max_state_bytes=config.max_state_bytes,
        )
        cache = ContentCache(
            config.state_dir,
            quota=Quota(
                min_free_percent=config.cache_min_free_percent,
                max_bytes=config.cache_max_bytes,
                grace_s=config.cache_grace_s,
            ),
        )
        cloud_clock = CloudClock(lambda: client.clock_offset_s)
        outbox = Outbox(store, now=cloud_clock.now)

        switched = asyncio.Event()  # an item started: libvlc is freeing the last one's pools

        def item_started(sha256: str) -> None:
            switched.set()
            cache.played(sha256)  # eviction goes least recently played first
            heartbeats.poke()  # the schedule's reason may have changed with the same playlist

        def playlist_changed(_: str | None) -> None:
            sync.want_blobs()
            heartbeats.poke()

        def page_applied() -> None:
            commands.wake()
            if screen_settings.apply(renderer):
                heartbeats.poke()  # the admin sees the screen turned or its volume at once

        def connection_changed(state: ConnectionState) -> None:
            heartbeats.poke()
            if state.online:
                uploader.retry_now()

        play_log = PlayLog(
            store,
            outbox,
            clock=cloud_clock,
            decision=lambda: schedule.decision,
            on_started=item_started,
        )
        play_log.recover()  # the play a killed agent left open, before anything new plays
        player = Player(renderer=renderer, listener=play_log)
        screen = Screen(
            player,
            cache,
            on_message=lambda m: save_message(store, m),
            on_skipped=play_log.item_skipped,
        )
        downloader = Downloader(
            client=client,
            cache=cache,
            on_blob_ready=lambda: sync.blob_ready(),
            concurrency=config.download_concurrency,
        )
        schedule_clock = ScheduleClock(lambda: client.clock_offset_s)
        schedule = ScheduleRunner(
            store=store,
            screen=screen,
            clock=schedule_clock,
            on_playlist=playlist_changed,
        )
        sync = SyncLoop(
            config=config,
            store=store,
            client=client,
            cache=cache,
            screen=screen,
            downloader=downloader,
            schedule=schedule,
            on_page=page_applied,
            on_connection=connection_changed,
        )
        restart = asyncio.Event()
        commands = CommandRunner(
            store=store,
            outbox=outbox,
            clock=lambda: schedule_clock.read().at,
            sync_now=sync.poll_now,
            request_restart=restart.set,
            privileged=HelperClient(),
            cache=cache,
            upload=client.put_attachment,
            screen=renderer,
            logs=find_log_buffer(),
            now_showing=lambda: player.now_playing.item.sha256 if player.now_playing else None,
        )
        uploader = ReportUploader(outbox=outbox, client=client)
        heartbeats = Heartbeats(
            outbox=outbox,
            reader=StatusReader(
                store=store,
                cache=cache,
                state_dir=config.state_dir,
                cloud_clock=cloud_clock,
                schedule_clock=schedule_clock,
                decision=lambda: schedule.decision,
                open_play=lambda: play_log.open_play,
                connection=lambda: sync.connection.state,
                downloads=downloader.progress,
                synced_at=lambda: sync.synced_at,
                display=lambda: describe_display(output.name, renderer),
                clock_offset_s=lambda: client.clock_offset_s,
            ),
            interval_s=config.heartbeat_interval_s,
            now=cloud_clock.now,
            enrolled=lambda: client.tokens is not None,
        )
        tokens = client.tokens
        log.info(
            "agent starting: state %s, cloud %s, %s",
            config.state_dir,
            config.cloud_url,
            f"device {tokens.device_id}" if tokens else "not enrolled yet",
        )
        schedule.start()
        sync.refresh_screen()  # the right message from the first frame, before the player starts
        try:
            await supervise(
                {
                    "player": player.run(),
                    "sync": sync.run(),
                    "downloads": downloader.run(),
                    "cache-gc": collect_forever(cache, lambda: store.referenced_blobs()),
                    "cache-report": report_cache_forever(store, downloader, cache),
                    "reports": uploader.run(),
                    "heartbeat": heartbeats.run(),
                    "commands": _once_showing(player, commands.run()),
                    "restart": _restart_when(restart),
                    "control": ControlServer(config.state_dir, renderer).run(),
                    "heap-trim": trim_heap_forever(switched),
                    "systemd": report_forever(
                        ready=player.wait_showing,
                        status=lambda: describe(player, store, schedule.playlist_id),
                    ),
                }
            )
        finally:
            schedule.stop()


def describe_display(output: str, renderer: VlcRenderer) -> str:
    """The heartbeat's `display`: the output, its size, how it is turned and the volume."""
    size = "x".join(map(str, renderer.screen_size))
    turned = f", turned {renderer.rotation} degrees" if renderer.rotation else ""
    return f"{output} {size}{turned}, volume {renderer.volume}%"


async def _once_showing(player: Player, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` once the player shows something (a screenshot held across a restart then
    captures the screen, not nothing)."""
    try:
        await player.wait_showing()
    except asyncio.CancelledError:
        work.close()  # never started: no "never awaited" warning
        raise
    await work


async def _restart_when(requested: asyncio.Event) -> None:
    """End the daemon with `RestartRequested` once a `restart-agent` command asked for it."""
    await requested.wait()
    raise RestartRequested("restarting, as a restart-agent command asked")


__all__ = ["HTTP_TIMEOUT", "run_daemon", "supervise"]
