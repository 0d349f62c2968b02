"""A real browser for tests: Debian's chromium, headless, driven by selenium.

    with chromium() as browser:
        browser.get(url)

Skips the test (with the reason) when chromium, chromium-driver or selenium is missing;
`scripts/bootstrap.sh` installs them. The flags keep chromium off the network (no update
checks, no sync, no first-run pages): the tests talk to a cloud on loopback only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

WINDOW = (1280, 900)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
BROWSERS = ("chromium", "chromium-browser")
DRIVER = "chromedriver"


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium window of `WINDOW`, with its own profile, quit afterwards."""
    browser_path = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver_path = shutil.which(DRIVER) or (
        "/usr/bin/chromedriver" if shutil.which("/usr/bin/chromedriver") else None
    )
    if browser_path is None or driver_path is None:
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/bootstrap.sh)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip('needs selenium (pip install -e ".[dev]")')
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser_path
        for flag in (
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            driver.set_window_size(*WINDOW)
            driver.set_page_load_timeout(10)
            # A click on submit may return before the next page is in: wait for what a
            # test looks for (each step's elements exist on that step's page only).
            driver.implicitly_wait(5)
            yield driver
        finally:
            driver.quit()


__all__ = ["WINDOW", "chromium"]
