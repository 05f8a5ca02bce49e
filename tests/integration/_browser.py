"""Headless Chromium under chromedriver for the browser tests, with a private profile.

Skips the test when chromium or chromedriver is missing; the driver quits when the block ends.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# No network of its own (updates, sync, first-run pages): the page under test is all it loads.
BASE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync")


@contextmanager
def headless_chromium(scratch: Path, *flags: str) -> Iterator[Any]:
    """A Chrome webdriver on `chromium` with BASE_FLAGS, then `flags`; profile in `scratch`."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*BASE_FLAGS, *flags, f"--user-data-dir={scratch / 'chromium-profile'}"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()
