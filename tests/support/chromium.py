"""Debian's chromium under Playwright, launched one way for every browser test (never a downloaded build)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"


def missing_reason() -> str | None:
    return None if CHROMIUM.exists() else MISSING


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """A headless Chromium (a playwright Browser), closed afterwards. The caller decides whether a missing
    chromium is a failure or a skip (`missing_reason`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
