"""A signed video in the web page (Debian's Chromium, Playwright, hls.js): tokens live 40 s
here, the page fetches fresh ones from its session and every later request of the player
carries the newest, so playback passes 60 s with no refusal and no console error."""

from __future__ import annotations

import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from src.infrastructure.playback.tokens import LEEWAY_SECONDS
from tests.e2e.browser import DESKTOP, chromium, play_past, sign_in, watch_console
from tests.e2e.test_api_pipeline import Client, create_key, serve
from tests.e2e.test_playback import upload
from tests.media import make_clip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOKEN_TTL = 40
WORKER = [sys.executable, "-m", "apps.worker.video_worker.sqs_main"]


def test_a_signed_lecture_plays_past_its_tokens_lifetime(spawn, tmp_path):
    env = {"VIDEO_PLAYBACK_TOKEN_TTL_SECONDS": str(TOKEN_TTL)}
    _web, base = serve(spawn, **env)
    spawn("worker", WORKER, **env)
    key = create_key(spawn, "academy-player", **env)
    client = Client(base, key)
    # 100 s: the player still fetches segments well after the first token (and its leeway)
    # has expired, so only refreshed tokens can carry it past 60 s.
    clip = make_clip(tmp_path / "lecture.mp4", 320, 180, seconds=100.0)
    created = upload(client, clip, "A long lecture")
    client.wait_ready(created["id"], timeout=300)

    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        problems = watch_console(page)
        media: list[tuple[float, int, str]] = []
        page.on(
            "response",
            lambda r: (
                media.append((time.monotonic(), r.status, r.url)) if "/media/" in r.url else None
            ),
        )
        sign_in(page, base, key)
        page.goto(f"{base}/videos/{created['id']}")
        assert "signed" in page.locator('[data-field="playback-policy"]').inner_text()
        player = page.locator("video#player")
        player.wait_for(state="visible")
        play_past(page, 61, timeout=240)
        assert page.evaluate("() => document.getElementById('player').error") is None
    assert [(s, url) for _t, s, url in media if s >= 400] == [], "no request was refused"
    tokens = [parse_qs(urlsplit(url).query).get("token", [""])[0] for _t, _s, url in media]
    assert all(tokens), "every media request carried a token"
    # Segments were still fetched after the page's first token had expired (its lifetime plus
    # the check's leeway): those went out with tokens the page fetched since.
    first_token = next(t for (_a, _s, url), t in zip(media, tokens, strict=True) if "master" in url)
    started = media[0][0]
    late = [
        token
        for (at, _s, url), token in zip(media, tokens, strict=True)
        if at - started > TOKEN_TTL + LEEWAY_SECONDS and ".m3u8" not in url
    ]
    assert late, "the player was still fetching segments after the first token expired"
    assert first_token not in late and len(set(tokens)) >= 3
    assert problems == [], problems
