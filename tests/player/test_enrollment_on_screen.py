"""The enrollment screen as a viewer sees it: shown by the real renderer (libvlc, window
output) on a bare 1920x1080 X server, read back from the screen, its QR code decoded.

The same code takes the screenshot in docs/img/enrollment-screen.png:

    .venv/bin/python -m tests.player.test_enrollment_on_screen docs/img/enrollment-screen.png
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from agent.screen import device_description, enrollment_message
from player import VlcRenderer, choose_video_output
from player.items import ScreenMessage
from player.messages import draw_message
from player.renderer import RendererEvent
from sync.models import DeviceAuthorization
from tests.player.conftest import GUARD_S
from tests.player.qr import bright_runs, dark_box, decode_qr, needs_zbarimg
from tests.player.xvfb import Framebuffer, running_xvfb, xvfb_available

LINK = "https://signage.example.com/activate?user_code=KXRT-9MBD"
GRANT = DeviceAuthorization(
    device_code="d",
    user_code="KXRT-9MBD",
    verification_uri="https://signage.example.com/activate",
    verification_uri_complete=LINK,
    expires_in=900,
)
MESSAGE = enrollment_message(
    GRANT, device=device_description("lobby-pi", "Raspberry Pi 4 Model B Rev 1.5", "0.1.0")
)


async def shown(message: ScreenMessage, framebuffer: Framebuffer, folder: Path) -> Image.Image:
    """What the X screen shows once the renderer put `message` up (its QR code's white)."""
    output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
    renderer = VlcRenderer(video_output=output, messages_dir=folder / "messages")
    seen: list[RendererEvent] = []
    await renderer.start(seen.append)
    try:
        renderer.show_message(message)
        # Wait for the QR code: a finder pattern's dark corner inside its white quiet zone.
        box = dark_box(draw_message(message))
        assert box is not None
        white, dark = (box[0] - 10, (box[1] + box[3]) // 2), (box[0] + 2, box[1] + 2)
        deadline = asyncio.get_running_loop().time() + GUARD_S
        while min(framebuffer.pixel(*white)) < 230 or max(framebuffer.pixel(*dark)) > 25:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the enrollment screen did not appear")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # one more frame, so the picture is complete
        assert seen == []  # a message is not an item: nothing for proof of play
        return framebuffer.screenshot().copy()
    finally:
        await renderer.close()


def screenshot(folder: Path) -> Image.Image:
    """The enrollment screen under a new Xvfb (the window output opens $DISPLAY)."""
    before = os.environ.get("DISPLAY")
    with running_xvfb() as xvfb:
        os.environ["DISPLAY"] = xvfb.display
        try:
            return asyncio.run(shown(MESSAGE, xvfb.framebuffer, folder))
        finally:
            if before is None:
                del os.environ["DISPLAY"]
            else:
                os.environ["DISPLAY"] = before


@needs_zbarimg
@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
def test_the_enrollment_screen_on_a_real_screen_scans_to_the_activation_link(
    tmp_path: Path,
) -> None:
    picture = screenshot(tmp_path)
    assert picture.size == (1920, 1080)
    assert decode_qr(picture) == [LINK]
    box = dark_box(picture)
    assert box is not None
    runs = bright_runs(picture, 0, box[0] - 100)
    top, bottom = max(runs, key=lambda run: run[1] - run[0])
    assert bottom - top > 100, "the code is not in large type"


def main(target: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        picture = screenshot(Path(folder))
    # A palette PNG: the screen has few colours, so the file stays small in git.
    picture.quantize(colors=64).save(target, optimize=True)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1])
