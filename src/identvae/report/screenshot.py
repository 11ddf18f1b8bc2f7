"""A picture of the report in a real browser: Debian's (or any) Chromium, headless, driven by
Playwright's Python API through its executable path (``playwright install`` is never needed).
The README's screenshot is made with it (``identvae screenshot``), and the report's browser
test opens the page the same way."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: The machines here have no network: without the background-networking flags Chromium keeps
#: trying to reach its services and logs refused connections.
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


def chromium_path() -> str | None:
    """``$IDENTVAE_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on the PATH."""
    for candidate in (os.environ.get("IDENTVAE_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def screenshot(page: str | os.PathLike, out: str | os.PathLike, width: int = 1280,
               height: int = 1400) -> Path:  # fmt: skip
    """The top ``width`` × ``height`` pixels of the report ``page`` as a PNG at ``out``."""
    page, out = Path(page), Path(out)
    if not page.is_file():
        raise FileNotFoundError(f"no report at {page}: run `snakemake --cores 1 {page}` first")
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no chromium on the PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("no playwright: pip install -e '.[test]'") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.goto(page.resolve().as_uri(), wait_until="load")
            tab.screenshot(path=str(out))
        finally:
            browser.close()
    return out
