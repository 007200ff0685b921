"""Cancel, retry and delete, through the test client (playback: test_playback.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from apps.support.video.models import Video
from src.application.domain import ErrorCode
from src.application.ports.video_repository import VideoResult
from src.application.storage_keys import job_output_prefix, media_video_prefix
from tests.integration.api.conftest import PUBLISHED_FILES, ApiHarness, publish

pytestmark = pytest.mark.django_db


def test_cancel_awaiting_upload_and_uploaded(api: ApiHarness):
    waiting = api.create()
    response = api.post_json(f"/api/v1/videos/{waiting['id']}/cancel", {})
    assert response.status_code == 200 and response.json()["status"] == "CANCELED"
    again = api.post_json(f"/api/v1/videos/{waiting['id']}/cancel", {})
    assert again.status_code == 200  # asking twice changes nothing
    queued = api.uploaded()
    assert api.post_json(f"/api/v1/videos/{queued['id']}/cancel", {}).json()["status"] == (
        "CANCELED"
    )


def test_cancel_processing_fences_the_worker_out(api: ApiHarness):
    video = api.uploaded()
    lease = api.services.repository.try_claim_video(video["id"], "worker-1")
    assert api.post_json(f"/api/v1/videos/{video['id']}/cancel", {}).status_code == 200
    # The worker's next renewal fails: that is how it notices, stops ffmpeg, publishes nothing.
    assert api.services.repository.renew_lease(lease) is None
    assert api.services.repository.complete(lease, VideoResult(hls_key="late")) is False


@pytest.mark.parametrize("final", ["READY", "FAILED"])
def test_cancel_of_a_finished_video_is_409(api: ApiHarness, final: str):
    video = api.uploaded()
    repo = api.services.repository
    if final == "READY":
        publish(api, video["id"], PUBLISHED_FILES)
    else:
        lease = repo.try_claim_video(video["id"], "worker-1")
        repo.fail(lease, ErrorCode.TRANSCODE_FAILED, "broken", retryable=False)
    response = api.post_json(f"/api/v1/videos/{video['id']}/cancel", {})
    assert response.status_code == 409
    assert response.json()["code"] == "INVALID_STATE"
    assert Video.objects.get(pk=video["id"]).status == final


def test_retry_a_failed_video_resets_attempts_and_queues_it(api: ApiHarness):
    video = api.uploaded()
    api.messages()  # the first enqueue
    repo = api.services.repository
    lease = repo.try_claim_video(video["id"], "worker-1")
    repo.fail(lease, ErrorCode.TRANSCODE_FAILED, "broken", retryable=False)
    response = api.post_json(f"/api/v1/videos/{video['id']}/retry", {})
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["attempts"], body["error"]) == ("UPLOADED", 0, None)
    [message] = api.messages()
    assert message["MessageAttributes"]["trace_id"]["StringValue"] == video["trace_id"]


def test_retry_a_canceled_video(api: ApiHarness):
    video = api.uploaded()
    api.post_json(f"/api/v1/videos/{video['id']}/cancel", {})
    assert api.post_json(f"/api/v1/videos/{video['id']}/retry", {}).status_code == 202


@pytest.mark.parametrize("state", ["uploaded", "awaiting_canceled", "ready"])
def test_retry_otherwise_is_409(api: ApiHarness, state: str):
    if state == "uploaded":
        video = api.uploaded()
    elif state == "awaiting_canceled":
        video = api.create()
        api.post_json(f"/api/v1/videos/{video['id']}/cancel", {})
    else:
        video = api.uploaded()
        publish(api, video["id"], PUBLISHED_FILES)
    response = api.post_json(f"/api/v1/videos/{video['id']}/retry", {})
    assert response.status_code == 409
    if state == "awaiting_canceled":
        assert "never uploaded" in response.json()["detail"]


def test_delete_removes_source_outputs_and_row_and_is_idempotent(api: ApiHarness):
    video = api.uploaded(b"source")
    published = publish(api, video["id"], PUBLISHED_FILES)
    folder = api.storage_root / f"tenants/{api.tenant.id}/videos/{video['id']}"
    # Outputs of the media folder (the published claim and a dead one's), and one left in
    # the legacy layout by a claim from before the media salt.
    salt = Video.objects.get(pk=video["id"]).media_salt
    dead = api.storage_root / job_output_prefix(salt, 9) / "master.m3u8"
    legacy = folder / "hls/1/master.m3u8"
    for leftover in (dead, legacy):
        leftover.parent.mkdir(parents=True)
        leftover.write_bytes(b"#EXTM3U\n")
    media = api.storage_root / media_video_prefix(salt)
    assert (api.storage_root / published / "master.m3u8").is_file()
    assert (folder / "source").is_dir()
    path = f"/api/v1/videos/{video['id']}"
    assert api.client.delete(path, headers=api.headers()).status_code == 204
    assert not Video.objects.filter(pk=video["id"]).exists()
    for gone in (folder, media):
        assert not any(p.is_file() for p in gone.rglob("*")) if gone.exists() else True
    assert api.client.delete(path, headers=api.headers()).status_code == 204
    assert api.get(path).status_code == 404


def test_delete_of_another_tenants_video_deletes_nothing(api: ApiHarness):
    _other, other_key = api.new_tenant("academy-d")
    theirs = api.post_json("/api/v1/videos", {"title": "theirs"}, key=other_key).json()
    response = api.client.delete(f"/api/v1/videos/{theirs['id']}", headers=api.headers())
    assert response.status_code == 204
    assert Video.objects.filter(pk=theirs["id"]).exists()


def test_published_assets_say_published_only_when_ready(api: ApiHarness):
    video = api.uploaded(playback_policy="public")
    path = f"/api/v1/videos/{video['id']}/assets/published"
    before = api.get(path)
    assert before.status_code == 200
    assert before.json() == {"published": False, "video_id": video["id"]}
    publish(api, video["id"], PUBLISHED_FILES)
    body = api.get(path).json()
    base = f"http://testserver/media/{video['playback_id']}"
    published_at = Video.objects.get(pk=video["id"]).processing_completed_at
    stated = datetime.fromisoformat(body.pop("published_at").replace("Z", "+00:00"))
    assert abs(stated - published_at) < timedelta(milliseconds=1)
    assert body == {
        "published": True,
        "video_id": video["id"],
        "playback_id": video["playback_id"],
        "playback_policy": "public",
        "video_url": f"{base}/master.m3u8",
        "master_playlist_url": f"{base}/master.m3u8",
        "subtitle_url": None,
        "thumbnail_url": f"{base}/thumbnail.jpg",
        "expires_at": None,
        "duration_sec": None,
        "captions": [],
        "renditions": [
            {
                "name": "360p",
                "width": 640,
                "height": 360,
                "bandwidth": 900000,
                "playlist_url": f"{base}/360p/index.m3u8",
            }
        ],
    }
