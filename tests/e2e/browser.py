"""Debian's Chromium driven by Playwright for Python (no browser download): the web pages
as a person uses them, against `make serve`, a real worker and reconcile."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The test presses play itself; sound has nowhere to go on a server.
    "--mute-audio",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@contextmanager
def chromium() -> Iterator[object]:
    """One headless Chromium for a test; `make test` installs the Debian package."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or CHROMIUM
    if not Path(executable).exists():
        pytest.fail("chromium is not installed: `make browser` (run by `make test`) installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch_console(page) -> list[str]:
    """Errors the page logs (CSP violations included) and uncaught exceptions."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def upload(page, base: str, path: Path, title: str) -> None:
    """Pick `path` on the upload page and start the upload (the page does the rest)."""
    page.goto(f"{base}/upload")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Video file").set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()


def record_progress(page, selector: str) -> None:
    """From now on, remember every value the progress bar at `selector` shows."""
    page.evaluate(
        """(selector) => {
            window.__progressSeen = [];
            window.__sameDocument = true;  // gone if the page reloads
            const bar = document.querySelector(selector);
            const note = () => window.__progressSeen.push(Number(bar.value));
            note();
            new MutationObserver(note).observe(bar, {attributes: true, childList: true,
                characterData: true, subtree: true});
        }""",
        selector,
    )


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_js(
    page, function: str, arg: object = None, timeout: float = 30.0, what: str | None = None
) -> object:
    """Wait until the JavaScript `function` (of `arg`) returns something truthy.

    Playwright's own wait_for_function evaluates a string with eval, which the pages'
    Content-Security-Policy forbids (as it should); this calls the function instead. `what`,
    a JavaScript function too, describes the page's state in the failure message."""
    from bench.harness import wait_until

    try:
        return wait_until(lambda: page.evaluate(function, arg), timeout, 0.1, what=function)
    except AssertionError as exc:
        state = page.evaluate(what) if what else None
        raise AssertionError(f"{exc}; page state: {state}") from None


PLAYER_STATE = """() => { const v = document.getElementById('player');
    return {paused: v.paused, time: v.currentTime, ready: v.readyState, network: v.networkState,
            error: v.error && v.error.message, buffered: v.buffered.length}; }"""


def play_past(page, seconds: float, timeout: float = 90) -> None:
    """Press play on the video page's player and wait until its clock passes `seconds`.

    Play is pressed once the media can play: a press while hls.js is still attaching the
    source is dropped by the browser (the pending play is aborted by the load). A loaded
    machine may take a while to buffer: the clock must move, however slowly."""
    player = page.locator("video#player")
    wait_js(page, "() => document.getElementById('player').readyState >= 1", what=PLAYER_STATE)
    player.click()
    wait_js(page, "() => !document.getElementById('player').paused", what=PLAYER_STATE)
    wait_js(
        page,
        "(s) => document.getElementById('player').currentTime > s",
        seconds,
        timeout=timeout,
        what=PLAYER_STATE,
    )
