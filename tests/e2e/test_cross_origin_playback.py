"""An academy's own page, on another origin than the API, plays a lecture through the API's
/media/ with Shaka Player and with hls.js (the npm packages pinned in tests/e2e/players/,
installed by `npm ci` on first use) in Debian's Chromium: every variant of the ladder is
listed and the lowest can be picked and plays. Without VIDEO_API_CORS_ORIGINS naming the
page's origin the same page fails: the browser refuses the playlist."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.harness import free_port
from tests.e2e.browser import chromium, wait_js
from tests.e2e.test_api_pipeline import Client, create_key, run_pipeline, serve
from tests.media import make_clip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PLAYERS = Path(__file__).with_name("players")
VENDOR = {
    "hls.min.js": PLAYERS / "node_modules/hls.js/dist/hls.min.js",
    "shaka-player.compiled.js": PLAYERS / "node_modules/shaka-player/dist/shaka-player.compiled.js",
}
STATE = "() => JSON.stringify(window.playerState)"


@pytest.fixture(scope="session")
def player_files() -> dict[str, Path]:
    """The players from the npm registry, exactly as package-lock.json pins them."""
    if not all(path.is_file() for path in VENDOR.values()):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: `make browser` (run by `make test`) installs it")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PLAYERS,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return VENDOR


@contextmanager
def player_site(files: dict[str, Path]) -> Iterator[str]:
    """The academy's page on its own loopback origin: the two player pages and the players."""
    routes = {f"/vendor/{name}": path for name, path in files.items()}
    for page in ("hls.html", "shaka.html", "players.js"):
        routes[f"/{page}"] = PLAYERS / page

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = routes.get(urllib.parse.urlsplit(self.path).path)
            if path is None:
                self.send_error(404)
                return
            body = path.read_bytes()
            kind = "text/html" if path.suffix == ".html" else "text/javascript"
            self.send_response(200)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ready_video(spawn, tmp_path: Path, **env) -> tuple[str, list[dict]]:
    """A 480p lecture uploaded through the API and READY: its master URL and renditions."""
    _web, base = serve(spawn, **env)
    run_pipeline(spawn, **env)
    client = Client(base, create_key(spawn, "academy-player", **env))
    clip = make_clip(tmp_path / "lecture.mp4", 854, 480, seconds=6.0)
    status, created = client.json("POST", "/api/v1/videos", {"title": "Week 1"})
    assert status == 201, created
    upload = created["upload"]
    with clip.open("rb") as source:
        status, _h, raw = client.call(
            upload["method"], upload["url"], data=source.read(), headers=upload["headers"]
        )
    assert status == 200, raw
    assert client.call("POST", upload["complete_url"])[0] == 202
    video = client.wait_ready(created["id"])
    master = video["assets"]["master_playlist_url"]
    assert master.startswith(f"{base}/media/")
    return master, video["renditions"]


def play(browser, site: str, page_name: str, master: str):
    page = browser.new_page()
    page.goto(f"{site}/{page_name}?{urllib.parse.urlencode({'src': master})}")
    return page


def test_players_on_another_origin_list_every_variant_and_play_the_lowest(
    spawn, tmp_path, player_files
):
    with player_site(player_files) as site:
        master, renditions = ready_video(spawn, tmp_path, VIDEO_API_CORS_ORIGINS=site)
        heights = sorted(r["height"] for r in renditions)
        assert len(heights) >= 2, renditions
        with chromium() as browser:
            for page_name in ("shaka.html", "hls.html"):
                page = play(browser, site, page_name, master)
                # Every variant listed, the lowest picked, and the clock moving on it.
                wait_js(
                    page,
                    """() => {
                        const s = window.playerState;
                        return s && s.errors.length === 0 && s.levels.length > 0
                            && s.playing === s.lowest
                            && document.getElementById('player').currentTime > 1;
                    }""",
                    timeout=60,
                    what=STATE,
                )
                state = page.evaluate("() => window.playerState")
                assert sorted(level["height"] for level in state["levels"]) == heights
                lowest = state["levels"][state["lowest"]]
                assert lowest["height"] == heights[0], (page_name, state)
                page.close()


def test_without_cors_for_its_origin_the_page_cannot_load_the_playlist(
    spawn, tmp_path, player_files
):
    with player_site(player_files) as site:
        master, _renditions = ready_video(spawn, tmp_path)  # no VIDEO_API_CORS_ORIGINS
        with chromium() as browser:
            page = play(browser, site, "hls.html", master)
            wait_js(page, "() => window.playerState.errors.length > 0", what=STATE)
            assert page.evaluate("() => window.playerState.errors") == ["manifestLoadError"]
            assert page.evaluate("() => window.playerState.levels") == []
