"""The operators' admin: live progress from Redis, lease holder and time left, the trace link,
and the retry / cancel / reclaim-now actions (the same use cases as the API and reconcile)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from src.infrastructure.cache.redis_keys import heartbeat_key, progress_key
from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client
from tests.integration.api.conftest import ApiHarness
from tests.services import redis_test_url

pytestmark = pytest.mark.django_db

LIST = "/admin/video/video/"
# A Redis database of its own: the API suite's database is emptied by its fixtures' teardown.
ADMIN_REDIS_URL = redis_test_url(12)


@pytest.fixture
def api(api: ApiHarness) -> ApiHarness:
    """The API harness with progress in this module's own Redis database."""
    client = redis_client(ADMIN_REDIS_URL)
    api.serve(progress=RedisProgressAdapter(client))
    written: list[str] = []
    api.progress_keys = written
    yield api
    for key in written:
        client.delete(key)
    client.close()


@pytest.fixture
def operator() -> Client:
    user = User.objects.create_superuser("operator", "ops@example.com", "a-long-password-1")
    client = Client()
    client.force_login(user)
    return client


def claimed(api: ApiHarness, worker: str = "worker-a") -> tuple[dict, object]:
    video = api.uploaded(title="Running")
    lease = api.services.repository.try_claim_video(video["id"], worker, lease_seconds=90)
    assert lease is not None
    return video, lease


def row_of(page: str, video_id: int) -> str:
    match = re.search(rf'<tr[^>]*>(?:(?!</tr>).)*?change/">{video_id}</a>.*?</tr>', page, re.S)
    assert match, f"no row for video {video_id}"
    return match.group(0)


def act(client: Client, action: str, *ids: int):
    return client.post(
        LIST, {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True
    )


def test_the_list_shows_live_progress_lease_and_trace(api: ApiHarness, operator: Client):
    video, _lease = claimed(api)
    api.progress_keys += [
        progress_key(api.tenant.id, video["id"]),
        heartbeat_key(api.tenant.id, video["id"]),
    ]
    api.services.progress.record_progress(api.tenant.id, video["id"], 42.4, "transcode", "worker-a")
    page = operator.get(LIST).content.decode()
    row = row_of(page, video["id"])
    assert "42% transcode" in row
    assert "worker-a" in row
    left = int(re.search(r"(\d+) s left", row).group(1))
    assert 80 <= left <= 90
    # The trace link lists the videos of that trace.
    trace = video["trace_id"]
    assert f"?trace_id={trace}" in row
    other = api.uploaded(title="Another trace")
    traced = operator.get(LIST, {"trace_id": trace}).content.decode()
    listed = re.findall(r'/change/[^"]*">(\d+)</a>', traced)
    assert listed == [str(video["id"])], listed
    assert other["trace_id"] != trace
    detail = operator.get(f"{LIST}{video['id']}/change/").content.decode()
    assert f"<code>{trace}</code>" in detail


def test_the_lease_shows_when_it_expired(api: ApiHarness, operator: Client):
    video, _lease = claimed(api)
    from django.utils import timezone

    from apps.support.video.models import Video

    Video.objects.filter(pk=video["id"]).update(
        leased_until=timezone.now() - timezone.timedelta(seconds=30)
    )
    row = row_of(operator.get(LIST).content.decode(), video["id"])
    assert re.search(r"expired (3\d) s ago", row)
    assert "no progress yet" in row


def test_cancel_then_retry_from_the_admin(api: ApiHarness, operator: Client):
    video, _lease = claimed(api)
    api.messages()  # the upload's own message
    page = act(operator, "cancel_videos", video["id"]).content.decode()
    assert f"Video {video['id']}: canceled." in page
    assert api.get(f"/api/v1/videos/{video['id']}").json()["status"] == "CANCELED"
    page = act(operator, "retry_videos", video["id"]).content.decode()
    assert f"Video {video['id']}: queued again." in page
    assert api.get(f"/api/v1/videos/{video['id']}").json()["status"] == "UPLOADED"
    assert len(api.messages()) == 1
    # A retry the status does not allow is reported, nothing changes.
    page = act(operator, "retry_videos", video["id"]).content.decode()
    assert "cannot be retried" in page


def test_reclaim_now_takes_the_job_from_a_live_worker(api: ApiHarness, operator: Client):
    video, lease = claimed(api, "worker-stuck")
    api.messages()
    page = act(operator, "reclaim_now", video["id"]).content.decode()
    assert f"Video {video['id']}: reclaimed and queued again." in page
    after = api.get(f"/api/v1/videos/{video['id']}").json()
    assert after["status"] == "UPLOADED"
    assert len(api.messages()) == 1
    # The old worker's lease is fenced out.
    assert api.services.repository.renew_lease(lease) is None
    # Nothing to reclaim on a row that is not PROCESSING: said, not done.
    page = act(operator, "reclaim_now", video["id"]).content.decode()
    assert "not reclaimed (not_processing:UPLOADED)" in page
