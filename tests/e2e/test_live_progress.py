"""Live progress end to end: `make serve` (uvicorn), a real worker running ffmpeg, and
clients that follow a video from the browser's side — a WebSocket and an EventSource-style
SSE reader, both with the progress_token from GET /api/v1/videos/{id} — through upload,
the worker's progress, `ready` and a normal close; then a late joiner."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request

import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from src.infrastructure.cache.redis_keys import heartbeat_key, progress_key
from tests.e2e.harness import TEST_REDIS_URL
from tests.e2e.tcp_proxy import TcpProxy
from tests.e2e.test_api_pipeline import Client, create_key, run_pipeline, serve
from tests.media import make_clip, paced_path
from tests.services import redis_test_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The video's stream ends at `ready` only when no caption job is pending: these tests follow
# the video alone (the caption phase of the stream is tests/integration/live/test_live_captions.py).
NO_CAPTIONS = {"VIDEO_CAPTIONS": "off"}


def read_sse(url: str, into: list[dict], done: threading.Event) -> None:
    """What an EventSource does: read `event:`/`data:` frames until the server ends."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            fields: dict[str, str] = {}
            for raw in response:
                line = raw.decode().rstrip("\n")
                if not line:
                    if "data" in fields:
                        into.append({"event": fields["event"], **json.loads(fields["data"])})
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
    finally:
        done.set()


def receive_all(ws, timeout: float = 180) -> tuple[list[dict], int]:
    """Every message up to the close frame, and its code."""
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            messages.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else -1


def test_a_browser_follows_upload_progress_and_ready_over_websocket_and_sse(spawn, tmp_path):
    env = {"VIDEO_LIVE_CHANNEL_PREFIX": f"academy-e2e-live-{os.getpid()}", **NO_CAPTIONS}
    web, base = serve(spawn, **env)
    # The worker's ffmpeg reads at most 4x real time: the 12 s clip's encode lasts 3 s or
    # more (about a second unpaced on an idle machine), so the worker publishes percents
    # between 0 and 100 (about once a second) whatever the machine's speed.
    worker, _reconcile = run_pipeline(spawn, **env, PATH=paced_path(tmp_path / "paced", 4))
    client = Client(base, create_key(spawn, "academy-live", **env))
    source = make_clip(tmp_path / "lecture.mp4", 640, 360, seconds=12.0)

    status, created = client.json(
        "POST", "/api/v1/videos", {"title": "Live", "size_bytes": source.stat().st_size}
    )
    assert status == 201, created
    vid = created["id"]
    clear_telemetry(vid)
    status, video = client.json("GET", f"/api/v1/videos/{vid}")
    assert status == 200
    live = video["live"]
    ws_url = f"{live['websocket_url']}?token={video['progress_token']}"
    assert ws_url.startswith(f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/ws/v1/videos/{vid}?token=")

    sse_messages: list[dict] = []
    sse_done = threading.Event()
    sse = threading.Thread(
        target=read_sse,
        args=(f"{live['events_url']}?token={video['progress_token']}", sse_messages, sse_done),
        daemon=True,
    )
    with connect(ws_url, open_timeout=30) as ws:
        first = json.loads(ws.recv(timeout=30))
        assert (first["type"], first["status"]) == ("connected", "AWAITING_UPLOAD")
        sse.start()
        upload = created["upload"]
        status, _h, _raw = client.call(
            upload["method"], upload["url"], data=source.read_bytes(), headers=upload["headers"]
        )
        assert status == 200
        assert client.call("POST", upload["complete_url"])[0] == 202
        messages, code = receive_all(ws)
    assert sse_done.wait(60), "the SSE response ends after the terminal event"

    types = [m["type"] for m in messages]
    assert code == 1000, "a normal close after the terminal event"
    assert types[-1] == "ready" and "failed" not in types
    # The feed only says "changed" and the stream reads the row: a worker that claims at once
    # may leave UPLOADED unseen, but the statuses never go back and PROCESSING is shown.
    statuses = [m["status"] for m in messages]
    lifecycle = ["UPLOADED", "PROCESSING", "READY"]
    assert set(statuses) <= set(lifecycle), statuses
    ranks = [lifecycle.index(s) for s in statuses]
    assert ranks == sorted(ranks) and "PROCESSING" in statuses, statuses
    worker_progress = [m for m in messages if m["type"] == "progress" and m["step"] == "transcode"]
    assert worker_progress, f"the worker's live percent reaches the client: {messages}"
    percents = [m["percent"] for m in worker_progress]
    assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents), percents
    assert any(0 < p < 100 for p in percents), f"a percent midway reaches the client: {percents}"
    assert all(m["updated_at"] for m in worker_progress), "from the worker, not the row"
    ready = messages[-1]
    assert ready["assets"]["master_playlist_url"].startswith(
        f"{base}/media/{ready['video']['playback_id']}/master.m3u8?token="
    )
    assert ready["video"]["status"] == "READY" and ready["video"]["duration_seconds"] > 11

    sse_types = [m["event"] for m in sse_messages]
    assert sse_types[0] == "connected" and sse_types[-1] == "ready"
    assert any(m["event"] == "progress" and m["step"] == "transcode" for m in sse_messages)

    # A late joiner: connected and ready at once, then a normal close.
    with connect(ws_url, open_timeout=30) as late:
        late_messages, late_code = receive_all(late, timeout=10)
    assert [m["type"] for m in late_messages] == ["connected", "ready"] and late_code == 1000
    assert web.problems() == [] and worker.problems() == []
    clear_telemetry(vid)


def clear_telemetry(video_id: int) -> None:
    """Ids repeat across runs while Redis keeps keys for an hour: no test leaves them behind
    (the outage test's last write never reaches Redis) nor starts with an earlier one's."""
    tenant_id = tenant_of(video_id)
    redis.Redis.from_url(TEST_REDIS_URL).delete(
        progress_key(tenant_id, video_id), heartbeat_key(tenant_id, video_id)
    )


def tenant_of(video_id: int) -> int:
    from apps.support.video.models import Video

    return Video.objects.get(pk=video_id).tenant_id


def test_refusals_over_the_network_bad_token_and_another_tenants_video(spawn):
    env = {"VIDEO_LIVE_CHANNEL_PREFIX": f"academy-e2e-live-{os.getpid()}", **NO_CAPTIONS}
    _web, base = serve(spawn, **env)
    owner = Client(base, create_key(spawn, "academy-owner", **env))
    stranger_key = create_key(spawn, "academy-stranger", **env)
    status, created = owner.json("POST", "/api/v1/videos", {"title": "Private"})
    assert status == 201
    ws_base = "ws" + base.removeprefix("http")

    def refusal(path: str, headers: dict | None = None):
        with connect(f"{ws_base}{path}", open_timeout=30, additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        return closed.value.rcvd.code, closed.value.rcvd.reason

    vid = created["id"]
    assert refusal(f"/ws/v1/videos/{vid}?token=forged") == (
        4401,
        "the progress token is not valid",
    )
    assert refusal(f"/ws/v1/videos/{vid}", {"X-API-Key": stranger_key}) == (
        4404,
        f"there is no video {vid}",
    )


def test_redis_down_mid_job_the_stream_polls_the_row_and_still_ends_with_ready(spawn, tmp_path):
    """Redis behind a proxy that is cut once the worker's percent is flowing: the worker
    finishes regardless, the stream says it is polling, and `ready` comes from the row.

    The worker is held (SIGSTOP) from just before the cut until the stream has announced
    `polling`: otherwise a short job can end before the cut reaches the stream, and `ready`
    would arrive live with no polling at all."""
    proxy = TcpProxy(6379)
    proxy.start()
    env = {
        **NO_CAPTIONS,
        "VIDEO_LIVE_CHANNEL_PREFIX": f"academy-e2e-live-{os.getpid()}",
        "REDIS_URL": redis_test_url(2, proxy.port),
        "VIDEO_PROGRESS_POLL_SECONDS": 1,
    }
    vid = None
    held = False
    try:
        web, base = serve(spawn, **env)
        # Paced (at least 4 s of encode): the transcode step is under way when it is seen.
        paced = paced_path(tmp_path / "paced", 4)
        worker, _reconcile = run_pipeline(spawn, **env, PATH=paced)
        client = Client(base, create_key(spawn, "academy-live-outage", **env))
        source = make_clip(tmp_path / "lecture.mp4", 640, 360, seconds=16.0)
        status, created = client.json(
            "POST", "/api/v1/videos", {"title": "Outage", "size_bytes": source.stat().st_size}
        )
        assert status == 201, created
        vid = created["id"]
        clear_telemetry(vid)
        video = client.json("GET", f"/api/v1/videos/{vid}")[1]
        with connect(f"{video['live']['websocket_url']}?token={video['progress_token']}") as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "connected"
            upload = created["upload"]
            client.call(
                upload["method"], upload["url"], data=source.read_bytes(), headers=upload["headers"]
            )
            assert client.call("POST", upload["complete_url"])[0] == 202
            before = []
            while not any(m.get("step") == "transcode" for m in before):
                before.append(json.loads(ws.recv(timeout=120)))
            os.kill(worker.pid, signal.SIGSTOP)
            held = True
            proxy.cut()
            after = []
            while not any(m["type"] == "stream" for m in after):
                after.append(json.loads(ws.recv(timeout=60)))
            os.kill(worker.pid, signal.SIGCONT)
            held = False
            rest, code = receive_all(ws)
            after += rest
    finally:
        if held:
            os.kill(worker.pid, signal.SIGCONT)
        proxy.cut()
        if vid is not None:
            clear_telemetry(vid)
    assert [m["mode"] for m in after if m["type"] == "stream"][:1] == ["polling"]
    assert after[-1]["type"] == "ready" and code == 1000
    assert after[-1]["video"]["status"] == "READY"
    worker.wait_event("SQS_JOB_COMPLETED", video_id=vid)
    assert web.problems() == [] and worker.problems() == []
