"""The HTTP API end to end: `make serve` (uvicorn), a real worker and reconcile, and a client
that creates a video, uploads it (through the API on file storage; straight to S3 on moto,
multipart included), polls to READY, fetches the master playlist through
`assets.master_playlist_url` and decodes it. One grep of the trace id through the web and
worker logs shows the whole life of the upload."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
import redis

from apps.support.video.models import Video
from bench.harness import ProcessLog, free_port, wait_until
from src.infrastructure.cache.redis_keys import heartbeat_key, progress_key
from tests.e2e.harness import TEST_REDIS_URL
from tests.media import make_clip, paced_path, run_ffmpeg

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
PART_BYTES = 5 * 1024 * 1024  # S3's smallest part
# urllib's default form Content-Type would make moto's server read a PUT body as a form.
OCTETS = {"Content-Type": "application/octet-stream"}


class Client:
    """What an academy's backend would write with nothing but the standard library."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.key = key

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        data: bytes | None = None,
        headers: dict | None = None,
    ):
        url = path if path.startswith("http") else f"{self.base}{path}"
        all_headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, dict(response.headers), raw
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, method: str, path: str, body: object = None, **kwargs) -> tuple[int, dict]:
        status, _headers, raw = self.call(method, path, body, **kwargs)
        return status, json.loads(raw) if raw else {}

    def wait_ready(self, video_id: int, timeout: float = 180) -> dict:
        seen: list[tuple[str, float, str]] = []

        def ready():
            _status, body = self.json("GET", f"/api/v1/videos/{video_id}")
            seen.append((body["status"], body["progress"]["percent"], body["progress"]["source"]))
            assert body["status"] not in ("FAILED", "CANCELED"), body
            return body if body["status"] == "READY" else None

        body = wait_until(ready, timeout, interval=0.3, what=f"video {video_id} READY")
        body["_seen"] = seen
        return body


def serve(spawn, **env) -> tuple[ProcessLog, str]:
    """`make serve` on a free port, as a developer starts it; waits for /health."""
    port = free_port()
    web = spawn(
        "web",
        ["make", "--no-print-directory", "-s", "serve", "HOST=127.0.0.1", f"PORT={port}"],
        **env,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            assert web.proc.poll() is None, web.tail()
            return False

    wait_until(healthy, 90, interval=0.2, what="the API to answer /health")
    return web, base


def create_key(spawn, slug: str, **env) -> str:
    proc = spawn(
        "create-key",
        [sys.executable, "manage.py", "create_api_key", "--tenant", slug, "--create-tenant"],
        **env,
    )
    assert proc.wait(60) == 0, proc.tail()
    return proc.path.read_text().strip().splitlines()[-1]


def run_pipeline(spawn, **env) -> tuple[ProcessLog, ProcessLog]:
    worker = spawn("worker", [sys.executable, "-m", "apps.worker.video_worker.sqs_main"], **env)
    reconcile = spawn(
        "reconcile",
        [sys.executable, "manage.py", "reconcile_video_processing", "--loop", "2"],
        **env,
    )
    return worker, reconcile


def decode_over_http(url: str) -> None:
    player = ["ffmpeg", "-v", "error", "-protocol_whitelist", "http,tcp,hls", "-i", url]
    done = subprocess.run(
        [*player, "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def grep(log: ProcessLog, needle: str) -> list[dict]:
    return [e for e in log.lines() if needle in json.dumps(e)]


def test_file_storage_upload_through_the_api_to_a_played_playlist(spawn, tmp_path):
    web, base = serve(spawn)
    worker, _reconcile = run_pipeline(spawn)
    client = Client(base, create_key(spawn, "academy-e2e"))
    source = make_clip(tmp_path / "lecture.mp4", 320, 180, seconds=2.0)

    status, created = client.json(
        "POST",
        "/api/v1/videos",
        {"title": "Week 1", "external_id": "lesson-1", "size_bytes": source.stat().st_size},
        headers={"traceparent": TRACEPARENT},
    )
    assert status == 201 and created["trace_id"] == TRACE
    upload = created["upload"]
    assert upload["url"] == f"{base}/api/v1/videos/{created['id']}/source"
    status, _headers, _raw = client.call(
        upload["method"], upload["url"], data=source.read_bytes(), headers=upload["headers"]
    )
    assert status == 200
    status, headers, _raw = client.call("POST", upload["complete_url"])
    assert status == 202 and headers["Location"] == f"/api/v1/videos/{created['id']}"

    video = client.wait_ready(created["id"])
    assert video["external_id"] == "lesson-1" and video["duration_seconds"] > 1.5
    assert video["timings_ms"]["transcode"] > 0 and video["attempts"] == 1
    master = video["assets"]["master_playlist_url"]
    assert master.startswith(f"{base}/media/{video['playback_id']}/master.m3u8?token=")
    status, headers, playlist = client.call("GET", master)
    assert status == 200 and headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist.startswith(b"#EXTM3U")
    decode_over_http(master)
    thumb_status, thumb_headers, _ = client.call(
        "GET", video["assets"]["thumbnail_url"], headers={"Range": "bytes=0-9"}
    )
    assert thumb_status == 206 and thumb_headers["Content-Length"] == "10"

    # One grep of the trace id: the create, upload and complete requests, then the worker's job.
    web_lines = grep(web, TRACE)
    assert {"VIDEO_CREATED", "VIDEO_SOURCE_RECEIVED", "VIDEO_UPLOADED"} <= {
        e["event"] for e in web_lines
    }
    assert [e["path"] for e in web_lines if e["event"] == "API_REQUEST"][:3] == [
        "/api/v1/videos",
        f"/api/v1/videos/{created['id']}/source",
        f"/api/v1/videos/{created['id']}/upload-complete",
    ]
    worker.wait_event("handler.handle() returned", video_id=created["id"], result="ok")
    worker_events = [e["event"] for e in grep(worker, TRACE)]
    for event in ("SQS_MESSAGE_RECEIVED", "VIDEO_CLAIMED", "SQS_JOB_COMPLETED"):
        assert event in worker_events
    job_lines = [e for e in worker.lines() if e.get("video_id") == created["id"]]
    assert job_lines and all(e.get("trace_id") == TRACE for e in job_lines)
    # The worker wrote the trace id into the live progress value too.
    row = Video.objects.get(pk=created["id"])
    progress = redis.Redis.from_url(TEST_REDIS_URL).get(progress_key(row.tenant_id, row.id))
    assert json.loads(progress)["trace_id"] == TRACE
    assert web.problems() == [] and worker.problems() == []


def test_cancel_stops_a_running_worker_which_publishes_nothing(spawn, tmp_path, storage_root):
    # Renewals every second (VIDEO_HEARTBEAT_TTL / 3): the worker notices within one of them.
    env = {"VIDEO_HEARTBEAT_TTL": 3, "VIDEO_LEASE_SECONDS": 30}
    _web, base = serve(spawn, **env)
    # ffmpeg at most 8x real time: the 40 s clip's encode lasts 5 s or more, so the cancel
    # finds it running however fast the machine.
    worker, _reconcile = run_pipeline(spawn, **env, PATH=paced_path(tmp_path / "paced", 8))
    client = Client(base, create_key(spawn, "academy-cancel", **env))
    source = make_clip(tmp_path / "long.mp4", 1280, 720, seconds=40.0)
    status, created = client.json("POST", "/api/v1/videos", {"title": "Long"})
    video_id = created["id"]
    # Ids repeat across runs while Redis keeps progress for an hour: no earlier "transcode".
    tenant_id = Video.objects.get(pk=video_id).tenant_id
    redis.Redis.from_url(TEST_REDIS_URL).delete(
        progress_key(tenant_id, video_id), heartbeat_key(tenant_id, video_id)
    )
    client.call("PUT", created["upload"]["url"], data=source.read_bytes(), headers=OCTETS)
    assert client.call("POST", created["upload"]["complete_url"])[0] == 202

    def transcoding():
        body = client.json("GET", f"/api/v1/videos/{video_id}")[1]
        progress = body["progress"]
        return progress["source"] == "redis" and progress["step"] == "transcode"

    wait_until(transcoding, 120, interval=0.2, what="the worker to be transcoding")
    # The step turns "transcode" before the probe runs: wait for ffmpeg itself to be running.
    wait_until(lambda: ffmpeg_under(worker.pid), 60, interval=0.1, what="an encode running")
    status, body = client.json("POST", f"/api/v1/videos/{video_id}/cancel")
    assert status == 200 and body["status"] == "CANCELED"
    done = worker.wait_event("handler.handle() returned", 30, video_id=video_id)
    assert done["result"] == "skip:cancel"
    assert worker.events("VIDEO_CANCELED")
    assert ffmpeg_under(worker.pid) == []  # ffmpeg was stopped with the job
    row = Video.objects.get(pk=video_id)
    assert (row.status, row.hls_key) == ("CANCELED", "")
    hls = storage_root / f"tenants/{row.tenant_id}/videos/{video_id}/hls"
    assert not hls.exists() or not any(p.is_file() for p in hls.rglob("*"))
    status, body = client.json("POST", f"/api/v1/videos/{video_id}/cancel")
    assert status == 200  # asking again changes nothing


def ffmpeg_under(pid: int) -> list[int]:
    """Live ffmpeg processes descending from `pid` (the worker's encodes)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        if rest[0] not in ("Z", "X"):
            parents[int(entry)], names[int(entry)] = int(rest[1]), name
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent:
                frontier.append(child)
                if names[child] == "ffmpeg":
                    found.append(child)
    return found


@pytest.fixture
def bucket(moto_endpoint):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"media-{free_port()}"
    s3.create_bucket(Bucket=name)
    return name


def noisy_clip(path: Path) -> Path:
    """A lossless clip of noise: a few MB in two seconds, so the upload needs several parts."""
    inputs = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2"]
    inputs += ["-f", "lavfi", "-i", "anoisesrc=d=2:c=white:r=48000"]
    noise = ["-filter_complex", "[0:v]noise=alls=100:allf=t[v]", "-map", "[v]", "-map", "1:a"]
    lossless = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-qp", "0"]
    run_ffmpeg([*inputs, *noise, *lossless, "-c:a", "aac", "-shortest", str(path)])
    return path


def test_s3_multipart_upload_straight_to_the_bucket(spawn, tmp_path, bucket, moto_endpoint):
    env = {"VIDEO_STORAGE_URL": f"s3://{bucket}/media", "VIDEO_UPLOAD_PART_BYTES": PART_BYTES}
    web, base = serve(spawn, **env)
    run_pipeline(spawn, **env)
    client = Client(base, create_key(spawn, "academy-s3", **env))
    source = noisy_clip(tmp_path / "big.mp4")
    data = source.read_bytes()
    assert len(data) > PART_BYTES  # two parts at least

    status, created = client.json(
        "POST", "/api/v1/videos", {"title": "Big", "size_bytes": len(data), "filename": "big.mp4"}
    )
    assert status == 201, created
    upload = created["upload"]
    assert upload["part_size"] == PART_BYTES and len(upload["parts"]) == -(-len(data) // PART_BYTES)
    parts = []
    for part in upload["parts"]:
        start = (part["part_number"] - 1) * PART_BYTES
        # Straight to S3 with the presigned URL: no Authorization header, no byte through us.
        request = urllib.request.Request(
            part["url"], data=data[start : start + PART_BYTES], method="PUT", headers=OCTETS
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
    status, done = client.json("POST", upload["complete_url"], {"parts": parts})
    assert status == 202, done
    assert done["size_bytes"] == len(data)

    video = client.wait_ready(created["id"])
    master = video["assets"]["master_playlist_url"]
    # Served by the API from the bucket, by playback id.
    assert master.startswith(f"{base}/media/{video['playback_id']}/master.m3u8?token=")
    decode_over_http(master)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="media/")["Contents"]]
    [source_key] = [k for k in keys if f"/videos/{video['id']}/source/" in k]
    assert source_key.endswith("/source/big.mp4")
    assert s3.head_object(Bucket=bucket, Key=source_key)["ContentLength"] == len(data)
    assert web.problems() == []


def test_s3_single_presigned_put(spawn, tmp_path, bucket):
    env = {"VIDEO_STORAGE_URL": f"s3://{bucket}"}
    _web, base = serve(spawn, **env)
    run_pipeline(spawn, **env)
    client = Client(base, create_key(spawn, "academy-s3-put", **env))
    source = make_clip(tmp_path / "small.mp4", 320, 180, seconds=2.0)
    status, created = client.json("POST", "/api/v1/videos", {"title": "Small"})
    assert status == 201
    upload = created["upload"]
    assert "X-Amz-Signature" in upload["url"] and upload.get("parts") is None
    request = urllib.request.Request(
        upload["url"], data=source.read_bytes(), method="PUT", headers=OCTETS
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    status, _ = client.json("POST", upload["complete_url"])
    assert status == 202
    video = client.wait_ready(created["id"])
    decode_over_http(video["assets"]["master_playlist_url"])


def test_an_oversized_upload_is_refused_before_its_bytes_are_read(spawn):
    _web, base = serve(spawn, VIDEO_MAX_SOURCE_BYTES=10_000_000)
    client = Client(base, create_key(spawn, "academy-huge"))
    status, created = client.json("POST", "/api/v1/videos", {"title": "huge"})
    assert status == 201
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    # Announce 50 GB and send 1 KB: the answer comes at once, not after 50 GB.
    connection.putrequest("PUT", f"/api/v1/videos/{created['id']}/source")
    for name, value in {
        "Authorization": f"Bearer {client.key}",
        "Content-Type": "application/octet-stream",
        "Content-Length": str(50 * 1024**3),
        "X-Request-ID": "huge-upload",
    }.items():
        connection.putheader(name, value)
    connection.endheaders(b"x" * 1024)
    response = connection.getresponse()
    problem = json.loads(response.read())
    assert response.status == 413
    assert (problem["code"], problem["trace_id"]) == ("PAYLOAD_TOO_LARGE", "huge-upload")
    connection.close()
    status, video = client.json("GET", f"/api/v1/videos/{created['id']}")
    assert video["status"] == "AWAITING_UPLOAD"
