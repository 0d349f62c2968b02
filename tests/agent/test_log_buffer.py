"""`agent.log_buffer.LogBuffer`: the agent's last log lines in memory, for the `logs`
command; bounded in lines and line length, installed by the CLI's logging setup."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from agent import cli
from agent.log_buffer import MAX_LINE_CHARS, LogBuffer, find_log_buffer
from agent.log_limit import RepeatLimiter
from sync.models import MAX_LOG_LINES


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tests.log_buffer")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def test_it_keeps_the_newest_lines_formatted_with_the_date(logger: logging.Logger) -> None:
    buffer = LogBuffer(max_lines=3)
    logger.addHandler(buffer)
    for n in range(5):
        logger.info("item %d started", n)
    lines = buffer.lines()
    assert [line.split(": ", 1)[1] for line in lines] == [f"item {n} started" for n in (2, 3, 4)]
    assert lines[0][:4].isdigit() and lines[0][4] == "-"  # a full date, not just the time
    assert " INFO    tests.log_buffer: " in lines[0]
    assert buffer.lines(1) == lines[-1:] and buffer.lines(0) == []
    assert buffer.text(2) == f"{lines[1]}\n{lines[2]}\n"


def test_a_traceback_counts_one_line_per_line_and_long_lines_are_cut(
    logger: logging.Logger,
) -> None:
    buffer = LogBuffer(max_lines=100)
    logger.addHandler(buffer)
    try:
        raise ValueError("broken")
    except ValueError:
        logger.exception("sync round failed")
    logger.warning("x" * 5000)
    lines = buffer.lines()
    assert lines[0].endswith("sync round failed")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-2] == "ValueError: broken"
    assert len(lines[-1]) == MAX_LINE_CHARS and lines[-1].endswith("…")


def test_the_cli_installs_it_behind_the_repeat_limiter() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    for handler in saved_handlers:
        root.removeHandler(handler)
    try:
        cli._setup_logging("INFO")
        buffer = find_log_buffer()
        assert buffer is not None
        assert any(isinstance(f, RepeatLimiter) for f in buffer.filters)
        assert buffer.lines(MAX_LOG_LINES + 1) == buffer.lines()
        logging.getLogger("agent.test").info("hello from the agent")
        logging.getLogger("agent.test").debug("below the configured level")
        assert buffer.lines()[-1].endswith("agent.test: hello from the agent")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    assert find_log_buffer(logging.getLogger("tests.nothing")) is None
