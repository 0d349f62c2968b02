"""On-screen messages drawn with Pillow: readable, reused, written safely."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageStat

from player.items import ScreenMessage
from player.messages import QR_SIDE, SCREEN_SIZE, draw_message, message_file_name, render_message
from tests.player.qr import bright_runs, dark_box, decode_qr, needs_zbarimg

ENROLL = ScreenMessage(
    title="Enroll this screen",
    headline="KXRT-9MBD",
    lines=("Enter this code in the admin portal", "https://signage.example/activate"),
)
LINK = "https://signage.example/activate?user_code=KXRT-9MBD"
ENROLL_QR = ScreenMessage(ENROLL.title, ENROLL.headline, ENROLL.lines, qr=LINK)


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


@needs_zbarimg
def test_qr_code_reads_back_as_its_link(tmp_path: Path) -> None:
    assert decode_qr(render_message(ENROLL_QR, tmp_path)) == [LINK]


def test_qr_code_is_large_black_on_white_with_a_quiet_zone_beside_the_code(
    tmp_path: Path,
) -> None:
    with Image.open(render_message(ENROLL_QR, tmp_path)) as image:
        image.load()
    box = dark_box(image)
    assert box is not None, "no QR code drawn"
    left, top, right, bottom = box
    # Large enough to scan from a few metres: most of QR_SIDE, and square.
    assert right - left > 0.6 * QR_SIDE and abs((right - left) - (bottom - top)) <= 1
    # The quiet zone: a white frame of at least 4 modules (>= 20 px at this size) all round.
    for y in range(top - 20, bottom + 20, 5):
        for x in (left - 20, left - 2, right + 1, right + 19):
            assert image.getpixel((x, y)) == (255, 255, 255), (x, y)
    for x in range(left - 20, right + 20, 5):
        for y in (top - 20, top - 2, bottom + 1, bottom + 19):
            assert image.getpixel((x, y)) == (255, 255, 255), (x, y)
    # The code stays in large type, left of the QR code, not under it.
    runs = bright_runs(image, 0, left - 100)  # left of the quiet zone (<= 80 px)
    tallest = max(runs, key=lambda run: run[1] - run[0])
    assert tallest[1] - tallest[0] > 100, runs
    # Beyond its quiet zone (4 modules of at most 30 px) there is nothing but background.
    assert not bright_runs(image, right + 130, SCREEN_SIZE[0]), "text right of the QR code"


def test_without_qr_nothing_is_black_and_the_text_is_centred() -> None:
    image = draw_message(ENROLL)
    assert dark_box(image) is None
    left_half = bright_runs(image, 0, SCREEN_SIZE[0] // 2)
    right_half = bright_runs(image, SCREEN_SIZE[0] // 2, SCREEN_SIZE[0])
    assert left_half and right_half


def test_the_file_name_changes_with_the_qr_content() -> None:
    other = ScreenMessage(ENROLL.title, ENROLL.headline, ENROLL.lines, qr=LINK + "X")
    names = {message_file_name(m) for m in (ENROLL, ENROLL_QR, other)}
    assert len(names) == 3


def test_a_link_too_long_for_a_qr_code_leaves_it_out_and_keeps_the_text() -> None:
    image = draw_message(ScreenMessage("Enroll this screen", "KXRT-9MBD", qr="x" * 8000))
    assert dark_box(image) is None
    assert max(bottom - top for top, bottom in bright_runs(image, 0, SCREEN_SIZE[0])) > 100
