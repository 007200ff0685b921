"""The web pages in a real browser (Debian's Chromium, Playwright): against `make serve`, a
real worker and reconcile, a person signs in with an API key, uploads a generated clip,
watches its progress bar move to READY without reloading, plays it, cancels an upload in
flight, retries a failed video and reads a hostile upload's error code. Screenshots of the
library and the video page go to docs/screenshots/ (shown in the README)."""

from __future__ import annotations

import signal
import sys

import pytest

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    chromium,
    record_progress,
    screenshot,
    sign_in,
    upload,
    watch_console,
)
from tests.e2e.harness import wait_until
from tests.e2e.test_api_pipeline import Client, create_key, serve
from tests.media import make_clip, make_hls_playlist

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def api_video(client: Client, video_id: int) -> dict:
    status, body = client.json("GET", f"/api/v1/videos/{video_id}")
    assert status == 200, body
    return body


def video_id_of(page) -> int:
    return int(page.url.rstrip("/").rsplit("/", 1)[-1])


def test_sign_in_upload_watch_progress_and_play(spawn, tmp_path):
    web, base = serve(spawn)
    worker = spawn("worker", [*WORKER])
    spawn("reconcile", RECONCILE)
    key = create_key(spawn, "academy-web")
    client = Client(base, key)
    # 480p: the ladder has two renditions (480p, 360p), so the player lists two levels.
    clip = make_clip(tmp_path / "week-1.mp4", 854, 480, seconds=12.0)

    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        problems = watch_console(page)

        # A wrong key is refused with a message; the right one opens the library.
        page.goto(f"{base}/")
        assert page.url == f"{base}/sign-in?next=%2F"
        page.get_by_label("API key").fill("avk_000000000000_not-a-key")
        page.get_by_role("button", name="Sign in").click()
        assert "Sign-in failed" in page.get_by_role("alert").inner_text()
        sign_in(page, base, key)
        assert "No videos yet" in page.locator("main").inner_text()
        session = next(c for c in page.context.cookies() if c["name"] == "academy_session")
        assert session["httpOnly"] and session["sameSite"] == "Lax"
        assert key not in page.content()

        upload(page, base, clip, "Week 1: Introduction")
        page.wait_for_url(f"{base}/videos/*", timeout=60_000)
        video_id = video_id_of(page)
        record_progress(page, ".video-status progress")

        # Freeze the worker mid-encode: the page must show the very percent Redis holds.
        def mid_encode():
            body = api_video(client, video_id)
            assert body["status"] not in ("READY", "FAILED", "CANCELED"), body
            progress = body["progress"]
            return body["status"] == "PROCESSING" and 0 < progress["percent"] < 100

        wait_until(mid_encode, 120, interval=0.05, what="the encode to be under way")
        worker.signal(signal.SIGSTOP)
        try:
            frozen = round(api_video(client, video_id)["progress"]["percent"])
            page.wait_for_function(
                "(p) => Number(document.querySelector('.video-status progress').value) === p",
                arg=frozen,
                timeout=15_000,
            )
        finally:
            worker.signal(signal.SIGCONT)

        page.locator('.video-status [data-field="status"]', has_text="Ready").wait_for(
            timeout=120_000
        )
        seen = page.evaluate("window.__progressSeen")
        assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
        assert any(0 < value < 100 for value in seen), seen
        assert frozen in seen

        # The player appears without a reload; press play and watch the clock move.
        player = page.locator("video#player")
        player.wait_for(state="visible")
        page.wait_for_function("Number(document.getElementById('quality').dataset.levels) >= 2")
        levels = page.locator("#quality option").all_inner_texts()
        assert levels == ["Auto", "480p", "360p"], levels
        player.click()
        page.wait_for_function("document.getElementById('player').currentTime > 1", timeout=30_000)
        assert page.evaluate("window.__sameDocument") is True
        # Picking a quality switches hls.js to that level.
        page.get_by_label("Quality").select_option(label="360p")
        page.wait_for_function("document.getElementById('player').dataset.playingLevel === '360p'")
        poster = api_video(client, video_id)["assets"]["thumbnail_url"]
        assert player.get_attribute("poster") == poster
        assert "transcode" in page.locator("table.timings").inner_text()
        page.evaluate("document.getElementById('player').pause()")
        screenshot(page, "video.png")

        page.goto(f"{base}/")
        row = page.locator(f'tr[data-video-id="{video_id}"]')
        assert "Ready" in row.inner_text()
        screenshot(page, "library.png")
        phone = browser.new_page(viewport=PHONE)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{base}/")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(phone, "library-phone.png")
        assert problems == [], problems
    assert web.problems() == [] and worker.problems() == []


WORKER = [sys.executable, "-m", "apps.worker.video_worker.sqs_main"]
RECONCILE = [sys.executable, "manage.py", "reconcile_video_processing", "--loop", "2"]
