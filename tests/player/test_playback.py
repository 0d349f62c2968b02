"""The whole player: `Player` driving a real `VlcRenderer` through real media."""

from __future__ import annotations

import itertools
from pathlib import Path

from PIL import Image

from player import PlayerState, RendererState, RetryPolicy, ScreenMessage, VideoOutput
from player.items import FAILING_MESSAGE
from tests.player.conftest import Media, image, run, running_player, video


def test_playlist_plays_in_order_and_loops(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_player(dummy_output, tmp_path) as running:
            items = [
                video("v1", media.video_b),
                image("img", media.red, 400),
                video("v2", media.video_a, duration_ms=500),
            ]
            running.player.set_playlist(items)
            recorder = running.recorder
            await recorder.wait_for(lambda: len(recorder.keys("started")) >= 7, "two loops")
            assert recorder.keys("started")[:7] == ["v1", "img", "v2", "v1", "img", "v2", "v1"]
            assert recorder.keys("ended")[:6] == ["v1", "img", "v2", "v1", "img", "v2"]
            assert recorder.keys("failed") == []
            # Every item ended before the next one started.
            kinds = [(kind, key) for kind, key, _, _ in recorder.calls if kind != "failed"]
            for (kind, key), (next_kind, _) in itertools.pairwise(kinds):
                assert next_kind != kind, f"{kind} {key} twice in a row: {kinds}"
            now = running.player.now_playing
            assert now is not None and now.item.key in {"v1", "img", "v2"}

    run(scenario())


def test_broken_and_missing_files_are_skipped_and_reported_once(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_player(dummy_output, tmp_path) as running:
            running.player.set_playlist(
                [
                    video("good", media.video_b),
                    video("garbage", media.garbage),
                    video("missing", media.missing),
                    image("img", media.blue, 300),
                    video("empty", media.empty),
                ]
            )
            recorder = running.recorder
            await recorder.wait_for(lambda: len(recorder.keys("started")) >= 5, "good items")
            assert recorder.keys("started")[:5] == ["good", "img", "good", "img", "good"]
            # Failed once each, in playlist order, and then left alone (30 s back-off).
            assert recorder.keys("failed") == ["garbage", "missing", "empty"]
            reasons = dict(recorder.details("failed"))
            assert "without showing a picture" in reasons["garbage"]
            assert "file not found" in reasons["missing"]
            assert "file is empty" in reasons["empty"]
            assert set(recorder.keys("ended")) == {"good", "img"}

    run(scenario())


def test_new_playlist_keeping_the_current_item_takes_effect_after_it(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_player(dummy_output, tmp_path) as running:
            current = video("A", media.video_a)
            running.player.set_playlist([current, image("B", media.red, 300)])
            recorder = running.recorder
            await recorder.wait_for(lambda: recorder.keys("started") == ["A"], "A to start")
            running.player.set_playlist(
                [image("C", media.blue, 300), video("A", media.video_a), image("D", media.red, 300)]
            )
            await recorder.wait_for(lambda: len(recorder.keys("started")) >= 4, "three more")
            assert recorder.keys("started")[:4] == ["A", "D", "C", "A"]
            # A was not cut short: it ended once, having played its whole second.
            first_end = recorder.details("ended")[0]
            assert first_end[0] == "A" and first_end[1] >= 500

    run(scenario())


def test_new_playlist_without_the_current_item_switches_now(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_player(dummy_output, tmp_path) as running:
            running.player.set_playlist(
                [
                    video("long", media.video_long),
                    image("B", media.red, 300),
                    image("C", media.blue, 300),
                ]
            )
            recorder = running.recorder
            await recorder.wait_for(lambda: recorder.keys("started") == ["long"], "long")
            # "long" and "B" removed: continue with C, the entry that followed them.
            running.player.set_playlist([video("D", media.video_b), image("C", media.blue, 300)])
            await recorder.wait_for(lambda: len(recorder.keys("started")) >= 3, "the switch")
            assert recorder.keys("started")[:3] == ["long", "C", "D"]
            ended = recorder.details("ended")
            assert ended[0][0] == "long" and ended[0][1] < 3000  # cut off, and accounted for

    run(scenario())


def test_empty_playlist_shows_the_message_on_screen(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    enroll = ScreenMessage(
        "Enroll this screen", "KXRT-9MBD", ("Enter this code in the admin portal",)
    )

    async def scenario() -> None:
        async with running_player(dummy_output, tmp_path) as running:
            player, renderer, recorder = running.player, running.renderer, running.recorder
            player.show_message(enroll)
            await recorder.wait_for(
                lambda: renderer.state == RendererState.MESSAGE and renderer.message == enroll,
                "the enrollment message",
            )
            assert player.state == PlayerState.MESSAGE and player.now_playing is None
            shot = tmp_path / "enroll.png"
            assert await renderer.snapshot(shot)
            with Image.open(shot) as picture:
                assert picture.size == (1920, 1080)

            player.set_playlist([image("img", media.red, 300)])
            await recorder.wait_for(lambda: recorder.keys("started") == ["img"], "content")
            player.set_playlist([])
            await recorder.wait_for(
                lambda: renderer.state == RendererState.MESSAGE, "the message again"
            )
            assert renderer.message == enroll and player.state == PlayerState.MESSAGE
            assert recorder.keys("ended")[-1] == "img"

    run(scenario())


def test_when_every_item_fails_a_notice_is_shown_without_spinning(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        retry = RetryPolicy(first_delay_s=0.3, max_delay_s=0.6)
        async with running_player(dummy_output, tmp_path, retry=retry) as running:
            player, renderer, recorder = running.player, running.renderer, running.recorder
            player.set_playlist([video("garbage", media.garbage), video("gone", media.missing)])
            await recorder.wait_for(
                lambda: renderer.state == RendererState.MESSAGE, "the failure notice"
            )
            assert player.state == PlayerState.BACKING_OFF
            assert renderer.message == FAILING_MESSAGE
            await recorder.wait_for(lambda: len(recorder.keys("failed")) >= 6, "three rounds")
            assert recorder.keys("failed")[:6] == ["garbage", "gone"] * 3
            assert recorder.keys("started") == []
            # Rounds are spaced by the back-off (0.3 s, then 0.6 s), not retried in a loop.
            # Load can only stretch the gaps, never shorten them.
            times = [at for kind, _, _, at in recorder.calls if kind == "failed"]
            round_starts = times[0:6:2]
            gaps = [later - earlier for earlier, later in itertools.pairwise(round_starts)]
            assert gaps[0] >= 0.25 and gaps[1] >= 0.5, gaps

            # Content that plays ends the notice at once.
            player.set_playlist([video("garbage", media.garbage), image("ok", media.red, 300)])
            await recorder.wait_for(lambda: "ok" in recorder.keys("started"), "good content")
            assert player.state == PlayerState.PLAYING

    run(scenario())
