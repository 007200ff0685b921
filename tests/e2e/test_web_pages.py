"""The web pages in a real browser (Debian's Chromium, Playwright): against `make serve`, a
real worker, reconcile and the webhook dispatcher, a person signs in with an API key, uploads a
generated clip, watches its progress bar move to READY without reloading, plays it, sees the
video.ready webhook delivered to a receiver, cancels an upload in flight, retries a failed
video and reads a hostile upload's error code. Screenshots of the library and the video page
go to docs/screenshots/ (shown in the README)."""

from __future__ import annotations

import math
import signal
import sys

import boto3
import pytest

from bench.harness import free_port, wait_until
from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    chromium,
    play_past,
    record_progress,
    screenshot,
    sign_in,
    upload,
    wait_js,
    watch_console,
)
from tests.e2e.test_api_pipeline import PART_BYTES, Client, create_key, noisy_clip, serve
from tests.media import make_clip, make_hls_playlist, paced_path
from tests.webhook_receiver import Reply, WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def api_video(client: Client, video_id: int) -> dict:
    status, body = client.json("GET", f"/api/v1/videos/{video_id}")
    assert status == 200, body
    return body


def video_id_of(page) -> int:
    return int(page.url.rstrip("/").rsplit("/", 1)[-1])


def test_sign_in_upload_watch_progress_and_play(spawn, tmp_path, receiver):
    web, base = serve(spawn, **LOOPBACK_HOOKS)
    # ffmpeg at most 4x real time: the 12 s clip's encode lasts 3 s or more, so it is frozen
    # midway however fast the machine.
    worker = spawn("worker", [*WORKER], PATH=paced_path(tmp_path / "paced", 4))
    spawn("reconcile", RECONCILE)
    dispatcher = spawn("deliver-webhooks", DELIVER_WEBHOOKS, **LOOPBACK_HOOKS)
    key = create_key(spawn, "academy-web")
    client = Client(base, key)
    # The academy's backend is told when a video is ready (a receiver on loopback).
    status, hook = client.json(
        "POST", "/api/v1/webhooks", {"url": receiver.url, "event_types": ["video.ready"]}
    )
    assert status == 201, hook
    receiver.secret = hook["secret"]
    # Its first answer is a 500: the delivery waits for its retry (5 s later) as PENDING.
    receiver.replies.append(Reply(500))
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
        page.evaluate(
            """() => {
                window.__deliveriesSeen = [];
                const body = document.getElementById('deliveries-body');
                new MutationObserver(() => window.__deliveriesSeen.push(body.innerText))
                    .observe(body, {childList: true, subtree: true, characterData: true});
            }"""
        )

        # Freeze the worker mid-encode: the page must show the very percent Redis holds.
        def mid_encode():
            body = api_video(client, video_id)
            assert body["status"] not in ("READY", "FAILED", "CANCELED"), body
            progress = body["progress"]
            return body["status"] == "PROCESSING" and 0 < progress["percent"] < 100

        wait_until(mid_encode, 120, interval=0.05, what="the encode to be under way")
        worker.signal(signal.SIGSTOP)
        try:
            # Rounded as the page rounds it (Math.round: halves up).
            frozen = math.floor(api_video(client, video_id)["progress"]["percent"] + 0.5)
            wait_js(
                page,
                "(p) => Number(document.querySelector('.video-status progress').value) === p",
                frozen,
                timeout=15,
            )
        finally:
            worker.signal(signal.SIGCONT)

        page.locator('.video-status [data-field="status"]', has_text="Ready").wait_for(
            timeout=120_000
        )
        seen = page.evaluate("() => window.__progressSeen")
        # The updates came over the API's WebSocket (SSE and polling are the fallbacks).
        assert page.locator(".video-page").get_attribute("data-live-mode") == "websocket"
        assert page.evaluate("() => window.__sameDocument") is True, "the page reloaded"
        assert any(0 < value < 100 for value in seen), seen
        assert frozen in seen

        # The player appears without a reload; press play and watch the clock move.
        player = page.locator("video#player")
        player.wait_for(state="visible")
        wait_js(page, "() => Number(document.getElementById('quality').dataset.levels) >= 2")
        levels = page.locator("#quality option").all_inner_texts()
        assert levels == ["Auto", "480p", "360p"], levels  # highest first
        play_past(page, 1)
        assert page.evaluate("() => window.__sameDocument") is True
        # Picking a quality switches hls.js to that level.
        page.get_by_label("Quality").select_option(label="360p")
        wait_js(page, "() => document.getElementById('player').dataset.playingLevel === '360p'")
        # The poster is the thumbnail, by playback id (each URL carries its own fresh token).
        poster = api_video(client, video_id)["assets"]["thumbnail_url"]
        assert player.get_attribute("poster").split("?")[0] == poster.split("?")[0]
        assert "transcode" in page.locator("table.timings").inner_text()

        # The webhook deliveries: video.ready reached the receiver (refused once, then
        # retried), and the page, refreshed at the terminal event and looking again while the
        # delivery was pending, showed the refusal and then the delivery with its 2xx code,
        # without a reload.
        refused, got = receiver.wait_for(2, timeout=60)
        assert got.verified and got.payload["data"]["id"] == video_id
        assert refused.headers["webhook-id"] == got.headers["webhook-id"]
        delivered = page.locator('#deliveries tr[data-status="DELIVERED"]', has_text="video.ready")
        delivered.wait_for(timeout=30_000)
        cells = delivered.locator("th, td").all_inner_texts()
        assert cells[:5] == ["video.ready", receiver.url, "Delivered", "2", "200"], cells
        assert cells[5].startswith("Delivered 20"), cells
        seen = page.evaluate("() => window.__deliveriesSeen")
        assert any("Pending" in text and "500" in text for text in seen), seen
        assert page.locator("#deliveries").get_attribute("data-waiting") == ""
        assert page.evaluate("() => window.__sameDocument") is True
        page.evaluate("() => document.getElementById('player').pause()")
        screenshot(page, "video.png")

        page.goto(f"{base}/")
        row = page.locator(f'tr[data-video-id="{video_id}"]')
        assert "Ready" in row.inner_text()
        screenshot(page, "library.png")
        phone = browser.new_page(viewport=PHONE)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{base}/")
        assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(phone, "library-phone.png")
        # The video page fits a phone too, its deliveries as labelled lines.
        phone.goto(f"{base}/videos/{video_id}")
        assert "Delivered" in phone.locator("#deliveries").inner_text()
        assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert problems == [], problems
    assert (web.problems(), worker.problems(), dispatcher.problems()) == ([], [], [])
    assert len(receiver.received) == 2


def test_cancel_an_upload_retry_a_failure_and_read_a_hostile_upload_error(spawn, tmp_path):
    _web, base = serve(spawn)
    # This worker refuses anything longer than 3 seconds: the 5-second lecture fails, and
    # is retried below once a worker without that limit runs.
    strict = spawn("worker-strict", WORKER, VIDEO_MAX_DURATION_SECONDS=3)
    spawn("reconcile", RECONCILE)
    key = create_key(spawn, "academy-web-failures")
    client = Client(base, key)
    long_clip = make_clip(tmp_path / "long.mp4", 320, 180, seconds=5.0)
    (tmp_path / "elsewhere").mkdir()
    secret = make_clip(tmp_path / "elsewhere" / "secret.ts", 320, 180, seconds=1.0)
    hostile = make_hls_playlist(tmp_path / "sneaky.mp4", secret)

    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        problems = watch_console(page)
        sign_in(page, base, key)

        # Cancel an upload in flight: the upload is slowed to 64 KB/s so it cannot finish.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        slow = {"offline": False, "latency": 0, "downloadThroughput": -1}
        cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": 64 * 1024})
        upload(page, base, long_clip, "Interrupted lecture")
        wait_js(page, "() => Number(document.getElementById('upload-bar').value) > 0")
        assert page.evaluate("() => Number(document.getElementById('upload-bar').value)") < 100
        canceled_id = int(page.locator("#upload-form").get_attribute("data-video-id"))
        page.get_by_role("button", name="Cancel upload").click()
        page.get_by_text("Upload canceled.").wait_for()
        canceled = api_video(client, canceled_id)
        assert canceled["status"] == "CANCELED" and canceled["uploaded_at"] is None
        cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})

        ids = {}
        for title, path in (("Too long", long_clip), ("Sneaky playlist", hostile)):
            upload(page, base, path, title)
            page.wait_for_url(f"{base}/videos/*", timeout=60_000)
            ids[title] = video_id_of(page)
            # The video page follows the job live to its end and shows the error code.
            page.locator('.video-status [data-field="status"]', has_text="Failed").wait_for(
                timeout=120_000
            )
        assert page.locator('[data-field="error-code"]').inner_text() == "UNSUPPORTED_MEDIA"

        page.goto(f"{base}/")
        hostile_row = page.locator(f'tr[data-video-id="{ids["Sneaky playlist"]}"]')
        assert "UNSUPPORTED_MEDIA" in hostile_row.inner_text()
        long_row = page.locator(f'tr[data-video-id="{ids["Too long"]}"]')
        assert "DURATION_TOO_LONG" in long_row.inner_text()
        canceled_row = page.locator(f'tr[data-video-id="{canceled_id}"]')
        assert "Canceled" in canceled_row.inner_text()
        assert canceled_row.get_by_role("button", name="Retry").is_hidden()  # nothing uploaded

        # The status filter: only the failed ones.
        page.get_by_label("Status").select_option("FAILED")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(f"{base}/?q=&status=FAILED")  # one form: the search box and the filter
        shown = page.locator("tr[data-video-id]").evaluate_all(
            "rows => rows.map(r => +r.dataset.videoId)"
        )
        assert sorted(shown) == sorted(ids.values())

        # Retry once a worker without the limit runs: the row goes back to work and to READY.
        strict.signal(signal.SIGTERM)
        assert strict.wait(60) == 0
        spawn("worker", WORKER)
        page.goto(f"{base}/")
        long_row.get_by_role("button", name="Retry").click()
        long_row.locator('[data-field="status"]', has_text="Ready").wait_for(timeout=120_000)
        assert long_row.locator('[data-field="error"]').is_hidden()
        assert api_video(client, ids["Too long"])["status"] == "READY"

        # Delete asks first, then the row goes and the API forgets the video.
        page.once("dialog", lambda dialog: dialog.accept())
        hostile_row.get_by_role("button", name="Delete").click()
        hostile_row.wait_for(state="detached")
        assert client.json("GET", f"/api/v1/videos/{ids['Sneaky playlist']}")[0] == 404
        assert problems == [], problems


WORKER = [sys.executable, "-m", "apps.worker.video_worker.sqs_main"]
RECONCILE = [sys.executable, "manage.py", "reconcile_video_processing", "--loop", "2"]
DELIVER_WEBHOOKS = [sys.executable, "manage.py", "deliver_webhooks", "--loop", "0.5"]
# Webhooks to a receiver on loopback over http:// (local development and tests only).
LOOPBACK_HOOKS = {"VIDEO_WEBHOOK_ALLOW_INSECURE": "1", "VIDEO_WEBHOOK_ALLOW_PRIVATE": "1"}


@pytest.fixture
def receiver():
    """The academy's webhook receiver: verifies each request's signature."""
    r = WebhookReceiver().start()
    yield r
    r.stop()


def test_s3_upload_sends_parts_in_parallel_and_retries_a_failed_one(spawn, tmp_path, moto_endpoint):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"web-{free_port()}"
    s3.create_bucket(Bucket=bucket)
    env = {"VIDEO_STORAGE_URL": f"s3://{bucket}/media", "VIDEO_UPLOAD_PART_BYTES": PART_BYTES}
    _web, base = serve(spawn, **env)
    # The bucket lets the site's pages PUT parts and read each part's ETag (infra/README.md).
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [base],
                    "AllowedMethods": ["PUT"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                }
            ]
        },
    )
    key = create_key(spawn, "academy-web-s3", **env)
    client = Client(base, key)
    source = noisy_clip(tmp_path / "phone-video.mp4")
    size = source.stat().st_size
    assert size > PART_BYTES  # two parts at least

    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        problems = watch_console(page)
        in_flight: set[str] = set()
        most = [0]
        refused: list[str] = []

        def started(request):
            if "partNumber=" in request.url:
                in_flight.add(request.url)
                most[0] = max(most[0], len(in_flight))

        def ended(request):
            in_flight.discard(request.url)

        page.on("request", started)
        page.on("requestfinished", ended)
        page.on("requestfailed", ended)

        def fail_part_two_once(route):
            # The storage answers part 2's first PUT with a 500, as S3 sometimes does.
            if "partNumber=2&" in route.request.url and not refused:
                refused.append(route.request.url)
                route.fulfill(status=500, body="We encountered an internal error.")
            else:
                route.continue_()

        page.route(f"{moto_endpoint}/**", fail_part_two_once)
        sign_in(page, base, key)
        upload(page, base, source, "Phone video")
        page.wait_for_url(f"{base}/videos/*", timeout=60_000)
        video_id = video_id_of(page)

        assert len(refused) == 1 and most[0] >= 2, (refused, most)
        body = api_video(client, video_id)
        assert body["status"] != "AWAITING_UPLOAD" and body["size_bytes"] == size
        [stored] = [
            o
            for o in s3.list_objects_v2(Bucket=bucket, Prefix="media/")["Contents"]
            if f"/videos/{video_id}/source/" in o["Key"]
        ]
        assert stored["Key"].endswith("/source/phone-video.mp4") and stored["Size"] == size
        # The only error the page saw is the refused part itself.
        assert [p for p in problems if "500" not in p] == [], problems
