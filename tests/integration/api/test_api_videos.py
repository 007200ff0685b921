"""The video endpoints through Django's test client: create, upload, complete, read, list."""

from __future__ import annotations

import pytest

from apps.support.video.models import Video
from bench.harness import free_port
from src.application.ports.video_repository import VideoStatus
from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client
from tests.integration.api.conftest import ApiHarness

pytestmark = pytest.mark.django_db

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_create_returns_the_id_and_how_to_upload(api: ApiHarness):
    response = api.post_json(
        "/api/v1/videos",
        {"title": "Week 1", "external_id": "course-7/lesson-1", "metadata": {"course": 7}},
        **{"X-Request-ID": "req-abc-123"},
    )
    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == f"/api/v1/videos/{body['id']}"
    assert response["X-Trace-Id"] == "req-abc-123"
    assert body["status"] == "AWAITING_UPLOAD"
    assert (body["title"], body["external_id"], body["metadata"]) == (
        "Week 1",
        "course-7/lesson-1",
        {"course": 7},
    )
    assert body["trace_id"] == "req-abc-123"
    upload = body["upload"]
    assert upload["method"] == "PUT"
    path, _, query = upload["url"].partition("?")
    assert path == f"http://testserver/api/v1/videos/{body['id']}/source"
    assert query.startswith("signature=") and api.key not in upload["url"]
    assert upload["headers"] == {"Content-Type": "application/octet-stream"}
    assert upload["expires_at"] == body["upload_expires_at"] is not None
    row = Video.objects.get(pk=body["id"])
    assert (row.status, row.trace_id, row.tenant_id) == (
        "AWAITING_UPLOAD",
        "req-abc-123",
        api.tenant.id,
    )
    assert api.messages() == []  # no job before the bytes are there


def test_traceparent_gives_the_trace_id(api: ApiHarness):
    response = api.post_json("/api/v1/videos", {"title": "t"}, traceparent=TRACEPARENT)
    assert response["X-Trace-Id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert response.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_trace_id_is_generated_when_none_is_sent(api: ApiHarness):
    first = api.post_json("/api/v1/videos", {"title": "t"})
    second = api.post_json("/api/v1/videos", {"title": "t"}, **{"X-Request-ID": "bad id\n"})
    assert len(first["X-Trace-Id"]) == 32
    assert first["X-Trace-Id"] != second["X-Trace-Id"]
    assert "\n" not in second["X-Trace-Id"]


def test_put_then_complete_queues_the_video_with_its_trace_id(api: ApiHarness):
    video = api.create(title="Week 2")
    put = api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"\x00video-bytes" * 100)
    assert put.status_code == 200
    assert put.json()["status"] == "AWAITING_UPLOAD"
    done = api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {})
    assert done.status_code == 202
    assert done["Location"] == f"/api/v1/videos/{video['id']}"
    assert done.json()["status"] == "UPLOADED"
    assert done.json()["size_bytes"] == 1200
    row = Video.objects.get(pk=video["id"])
    assert row.status == "UPLOADED" and row.uploaded_at is not None
    assert (api.storage_root / row.source_key).read_bytes() == b"\x00video-bytes" * 100
    [message] = api.messages()
    assert f'"video_id": {video["id"]}' in message["Body"]
    assert message["MessageAttributes"]["trace_id"]["StringValue"] == video["trace_id"]


def test_complete_without_a_body_works_too(api: ApiHarness):
    video = api.create()
    api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"abc")
    response = api.client.generic(
        "POST", f"/api/v1/videos/{video['id']}/upload-complete", b"", "", headers=api.headers()
    )
    assert response.status_code == 202


def test_complete_twice_is_a_conflict_and_sends_one_message(api: ApiHarness):
    video = api.uploaded()
    again = api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {})
    assert again.status_code == 409
    assert again.json()["code"] == "INVALID_STATE"
    assert len(api.messages()) == 1


def test_get_shows_the_live_percent_from_redis(api: ApiHarness):
    video = api.uploaded()
    lease = api.services.repository.try_claim_video(video["id"], "worker-1")
    assert lease is not None
    api.services.progress.record_progress(api.tenant.id, video["id"], 42.5, "transcode", "w-1")
    body = api.get(f"/api/v1/videos/{video['id']}").json()
    assert body["status"] == "PROCESSING"
    assert body["attempts"] == 1
    assert body["progress"]["percent"] == 42.5
    assert body["progress"]["step"] == "transcode"
    assert body["progress"]["source"] == "redis"


def test_get_falls_back_to_the_row_when_redis_is_down(api: ApiHarness):
    video = api.uploaded()
    api.services.repository.try_claim_video(video["id"], "worker-1")
    down = RedisProgressAdapter(redis_client(f"redis://127.0.0.1:{free_port()}/0"))
    api.use_cases.queries.progress = down
    body = api.get(f"/api/v1/videos/{video['id']}").json()
    assert body["status"] == "PROCESSING"
    assert body["progress"]["source"] == "database"


def _ready(api: ApiHarness, renditions: list[dict], **result) -> dict:
    """An uploaded video, claimed and completed by a worker with `renditions`."""
    from src.application.ports.video_repository import VideoResult
    from src.application.storage_keys import job_output_prefix

    video = api.uploaded()
    repo = api.services.repository
    lease = repo.try_claim_video(video["id"], "worker-1")
    prefix = job_output_prefix(lease.media_salt, lease.token)
    result = {"duration_seconds": 12.0, "width": 1280, "height": 720, **result}
    repo.complete(
        lease,
        VideoResult(
            hls_key=f"{prefix}/master.m3u8",
            thumbnail_key=f"{prefix}/thumbnail.jpg",
            renditions=renditions,
            **result,
        ),
    )
    return video


def test_ready_video_shows_its_assets(api: ApiHarness):
    video = _ready(api, [{"name": "720p"}], stage_timings_ms={"transcode": 900})
    body = api.get(f"/api/v1/videos/{video['id']}").json()
    assert body["status"] == "READY"
    assert body["progress"] == {
        "percent": 100.0,
        "step": "ready",
        "source": "database",
        "updated_at": None,
    }
    base = f"http://testserver/media/{body['playback_id']}"
    assets = body["assets"]
    assert body["playback_policy"] == "signed"  # the default: a token in every URL
    assert assets["master_playlist_url"].startswith(f"{base}/master.m3u8?token=")
    assert assets["thumbnail_url"].startswith(f"{base}/thumbnail.jpg?token=")
    assert assets["expires_at"] is not None
    assert (body["duration_seconds"], body["width"]) == (12.0, 1280)
    # Typed: every field of the rendition model, null where the row does not say.
    assert body["renditions"][0]["name"] == "720p" and body["renditions"][0]["height"] is None
    assert body["timings_ms"] == {"transcode": 900}


def test_a_rung_encoded_at_a_fractional_crf_is_served_as_it_was_recorded(api: ApiHarness):
    # The content tuning moves a rung's CRF by halves (a camera picture's top rung: 23.5), and
    # VIDEO_LADDER accepts any CRF x264 does: the video, the list and the search must say so.
    rungs = [{"name": "1080p", "crf": 23.5, "video": "libx264"}, {"name": "720p", "crf": 24}]
    video = _ready(api, rungs, width=1920, height=1080, stage_timings_ms={})
    response = api.get(f"/api/v1/videos/{video['id']}")
    assert response.status_code == 200, response.content
    assert [r["crf"] for r in response.json()["renditions"]] == [23.5, 24]
    listed = api.get("/api/v1/videos")
    assert listed.status_code == 200, listed.content
    [item] = [v for v in listed.json()["items"] if v["id"] == video["id"]]
    assert [r["crf"] for r in item["renditions"]] == [23.5, 24]


def test_list_is_newest_first_with_a_cursor_stable_under_inserts(api: ApiHarness):
    ids = [api.create(title=f"v{i}")["id"] for i in range(5)]
    first = api.get("/api/v1/videos?limit=2").json()
    assert [v["id"] for v in first["items"]] == [ids[4], ids[3]]
    newer = api.create(title="inserted meanwhile")["id"]
    second = api.get(f"/api/v1/videos?limit=2&cursor={first['next_cursor']}").json()
    assert [v["id"] for v in second["items"]] == [ids[2], ids[1]]
    third = api.get(f"/api/v1/videos?limit=2&cursor={second['next_cursor']}").json()
    assert [v["id"] for v in third["items"]] == [ids[0]]
    assert third["next_cursor"] is None
    assert api.get("/api/v1/videos?limit=1").json()["items"][0]["id"] == newer


def test_list_filters(api: ApiHarness):
    a = api.create(external_id="ext-a")
    b = api.uploaded(external_id="ext-b")
    by_status = api.get("/api/v1/videos?status=UPLOADED").json()["items"]
    assert [v["id"] for v in by_status] == [b["id"]]
    by_external = api.get("/api/v1/videos?external_id=ext-a").json()["items"]
    assert [v["id"] for v in by_external] == [a["id"]]
    row = Video.objects.get(pk=a["id"])
    after = row.created_at.isoformat().replace("+00:00", "Z")
    response = api.client.get("/api/v1/videos", {"created_after": after}, headers=api.headers())
    assert [v["id"] for v in response.json()["items"]] == [b["id"]]


def test_list_shows_only_the_tenants_videos(api: ApiHarness):
    mine = api.create()
    _other, other_key = api.new_tenant("academy-b")
    theirs = api.post_json("/api/v1/videos", {"title": "theirs"}, key=other_key).json()
    assert [v["id"] for v in api.get("/api/v1/videos").json()["items"]] == [mine["id"]]
    listed = api.get("/api/v1/videos", key=other_key).json()["items"]
    assert [v["id"] for v in listed] == [theirs["id"]]


@pytest.mark.parametrize("cursor", ["nonsense", "djE6LTU", "", "x" * 65])
def test_a_cursor_we_did_not_issue_is_refused(api: ApiHarness, cursor: str):
    response = api.get(f"/api/v1/videos?cursor={cursor}")
    if cursor == "":
        assert response.status_code == 200  # an empty cursor is the first page
        return
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "status=DONE", "created_after=yes"])
def test_bad_list_parameters_are_field_errors(api: ApiHarness, query: str):
    response = api.get(f"/api/v1/videos?{query}")
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"].startswith("query.")


def test_another_tenants_video_is_not_found_everywhere(api: ApiHarness):
    _other, other_key = api.new_tenant("academy-c")
    theirs = api.post_json("/api/v1/videos", {"title": "theirs"}, key=other_key).json()
    path = f"/api/v1/videos/{theirs['id']}"
    responses = [
        api.get(path),
        api.put_bytes(f"{path}/source", b"mine now"),
        api.post_json(f"{path}/upload-complete", {}),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert all(r.json()["code"] == "NOT_FOUND" for r in responses)
    assert Video.objects.get(pk=theirs["id"]).status == VideoStatus.AWAITING_UPLOAD
    assert list(api.storage_root.rglob("*")) == []
