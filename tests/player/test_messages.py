"""On-screen messages drawn with Pillow: readable, reused, written safely."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageStat

from player.items import ScreenMessage
from player.messages import SCREEN_SIZE, render_message

ENROLL = ScreenMessage(
    title="Enroll this screen",
    headline="KXRT-9MBD",
    lines=("Enter this code in the admin portal", "https://signage.example/activate"),
)


def bright_rows(image: Image.Image) -> list[int]:
    """Rows holding near-white text pixels."""
    gray = image.convert("L")
    width, height = gray.size
    pixels = gray.load()
    assert pixels is not None
    return [y for y in range(0, height, 4) if any(pixels[x, y] > 200 for x in range(0, width, 4))]


def test_message_is_a_full_hd_dark_picture_with_bright_text(tmp_path: Path) -> None:
    path = render_message(ENROLL, tmp_path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == SCREEN_SIZE
        mean = ImageStat.Stat(image.convert("L")).mean[0]
        assert mean < 60, "the background should be dark"
        rows = bright_rows(image)
    assert rows, "no readable text drawn"
    # The headline is the tallest block: bright rows span well over 100 px of the middle.
    assert max(rows) - min(rows) > 300
    assert any(400 < y < 700 for y in rows)


def test_headline_is_larger_than_the_other_lines(tmp_path: Path) -> None:
    headline_only = ScreenMessage(title="", headline="KXRT-9MBD")
    line_only = ScreenMessage(title="", headline="", lines=("KXRT-9MBD",))
    with (
        Image.open(render_message(headline_only, tmp_path)) as big,
        Image.open(render_message(line_only, tmp_path)) as small,
    ):
        big_rows, small_rows = bright_rows(big), bright_rows(small)
    assert max(big_rows) - min(big_rows) > 2 * (max(small_rows) - min(small_rows))


def test_same_message_reuses_its_file_and_others_get_their_own(tmp_path: Path) -> None:
    first = render_message(ENROLL, tmp_path)
    stamp = first.stat().st_mtime_ns
    again = render_message(ENROLL, tmp_path)
    other = render_message(ScreenMessage("Enroll this screen", "AAAA-BBBB"), tmp_path)
    assert again == first and first.stat().st_mtime_ns == stamp
    assert other != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])


def test_very_long_headline_is_shrunk_to_fit(tmp_path: Path) -> None:
    message = ScreenMessage(title="t", headline="W" * 60)
    with Image.open(render_message(message, tmp_path)) as image:
        gray = image.convert("L")
        width, _ = gray.size
        pixels = gray.load()
        assert pixels is not None
        # Nothing bright in the outermost columns: the text was not cut at the edges.
        for y in range(0, image.size[1], 8):
            assert pixels[0, y] < 200 and pixels[width - 1, y] < 200
        assert bright_rows(image)


def test_missing_folder_is_created(tmp_path: Path) -> None:
    path = render_message(ENROLL, tmp_path / "state" / "messages")
    assert path.is_file() and path.parent == tmp_path / "state" / "messages"
