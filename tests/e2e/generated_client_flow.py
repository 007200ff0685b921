"""A producer's whole flow through the SDK `openapi-python-client` generated from the served
schema, run by tests/e2e/test_generated_client.py in the SDK's own virtualenv.

Nothing here speaks HTTP itself except the PUT to the signed upload URL, which is what the
upload instructions are for. The client raises on any status the schema does not declare.
Usage: python generated_client_flow.py BASE_URL API_KEY SOURCE_FILE WEBHOOK_URL
Prints one JSON line with what the test checks.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from http import HTTPStatus
from io import BytesIO

from academy_video_api_client import AuthenticatedClient
from academy_video_api_client.api.playback import create_playback_token
from academy_video_api_client.api.videos import (
    cancel_video,
    complete_upload,
    create_video,
    get_published_assets,
    get_video,
    list_videos,
    retry_video,
    update_video,
    upload_video,
)
from academy_video_api_client.api.webhooks import (
    create_webhook,
    list_video_deliveries,
    list_webhooks,
)
from academy_video_api_client.models import (
    CreatedVideoOut,
    CreateVideoForm,
    CreateVideoIn,
    CreateWebhookIn,
    DeliveryStatus,
    PlaybackPolicy,
    ProblemOut,
    UpdateVideoIn,
    VideoOut,
    VideoStatus,
)
from academy_video_api_client.types import File

DEADLINE_SECONDS = 150


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"flow failed: {what}")


def wait_for(what: str, probe):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise SystemExit(f"flow failed: timed out waiting for {what}")


def status_of(client, video_id: int, wanted: VideoStatus):
    """A probe: the video once it has `wanted` status (any other end state fails the flow)."""

    def probe():
        got = get_video.sync(video_id, client=client)
        ended = (VideoStatus.READY, VideoStatus.FAILED, VideoStatus.CANCELED)
        check(got.status == wanted or got.status not in ended, f"video {video_id} is {got.status}")
        return got if got.status == wanted else None

    return probe


def put(upload, source: bytes) -> None:
    """The one raw HTTP call: the upload instructions, followed exactly as given."""
    headers = dict(upload.headers.additional_properties)
    request = urllib.request.Request(upload.url, data=source, method=upload.method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        check(response.status == 200, f"upload PUT: {response.status}")


def main(base: str, key: str, source_path: str, webhook_url: str) -> None:
    client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)
    source = open(source_path, "rb").read()
    report: dict = {}

    hook = create_webhook.sync_detailed(client=client, body=CreateWebhookIn(url=webhook_url))
    check(hook.status_code == HTTPStatus.CREATED, f"create_webhook: {hook.status_code}")
    check(hook.parsed.secret.startswith("whsec_"), "the webhook secret")
    listed_hooks = list_webhooks.sync(client=client)
    check([w.id for w in listed_hooks.items] == [hook.parsed.id], "list_webhooks")
    report["webhook_secret"] = hook.parsed.secret

    # Create (JSON): upload instructions, followed exactly as given.
    idempotency_key = str(uuid.uuid4())
    body = CreateVideoIn(title="Week 1", external_id="lesson-1", size_bytes=len(source))
    created = create_video.sync_detailed(client=client, body=body, idempotency_key=idempotency_key)
    check(created.status_code == HTTPStatus.CREATED, f"create_video: {created.status_code}")
    video = created.parsed
    check(isinstance(video, CreatedVideoOut), f"create_video parsed {type(video).__name__}")
    check(video.status == VideoStatus.AWAITING_UPLOAD, f"status {video.status}")
    put(video.upload, source)
    report["upload_url"] = video.upload.url

    # The same create again with the same key: the first answer, replayed.
    replay = create_video.sync_detailed(client=client, body=body, idempotency_key=idempotency_key)
    check(replay.status_code == HTTPStatus.CREATED, f"replayed create: {replay.status_code}")
    check(replay.headers.get("Idempotent-Replayed") == "true", "Idempotent-Replayed header")
    check(replay.parsed.id == video.id, "the replay names the same video")

    # Complete with no body: the normal call.
    done = complete_upload.sync_detailed(video.id, client=client)
    check(done.status_code == HTTPStatus.ACCEPTED, f"complete_upload: {done.status_code}")
    check(
        done.parsed.status in (VideoStatus.UPLOADED, VideoStatus.PROCESSING, VideoStatus.READY),
        "queued",
    )

    # Create (multipart): the upload in one request.
    form = CreateVideoForm(
        title="Week 2",
        file=File(payload=BytesIO(source), file_name="week2.mp4", mime_type="video/mp4"),
    )
    second = upload_video.sync_detailed(client=client, body=form)
    check(second.status_code == HTTPStatus.ACCEPTED, f"multipart create: {second.status_code}")
    check(isinstance(second.parsed, VideoOut), "multipart create parsed as VideoOut")

    first_ready = wait_for("the JSON video READY", status_of(client, video.id, VideoStatus.READY))
    wait_for("the multipart video READY", status_of(client, second.parsed.id, VideoStatus.READY))
    report["renditions"] = [
        {"name": r.name, "height": r.height, "bandwidth": r.bandwidth}
        for r in first_ready.renditions
    ]
    report["live_events_url"] = first_ready.live.events_url

    published = get_published_assets.sync(video.id, client=client)
    check(".m3u8" in published.master_playlist_url, "published master playlist")
    check(len(published.renditions) == len(first_ready.renditions), "published renditions")
    report["master_playlist_url"] = published.master_playlist_url

    # Playback: a token with no body (the defaults), then the video made public.
    token = create_playback_token.sync_detailed(video.id, client=client)
    check(token.status_code == HTTPStatus.CREATED, f"create_playback_token: {token.status_code}")
    report["token_master_playlist_url"] = token.parsed.master_playlist_url
    public = update_video.sync(video.id, client=client, body=UpdateVideoIn(PlaybackPolicy.PUBLIC))
    check(public.playback_policy == PlaybackPolicy.PUBLIC, f"policy {public.playback_policy}")
    report["public_master_playlist_url"] = public.assets.master_playlist_url

    # List with a cursor: one per page, newest first.
    page = list_videos.sync(client=client, limit=1)
    check(len(page.items) == 1 and page.next_cursor, "first page and its cursor")
    rest = list_videos.sync(client=client, limit=1, cursor=page.next_cursor)
    check([v.id for v in page.items + rest.items] == [second.parsed.id, video.id], "pages")
    only_ready = list_videos.sync(client=client, status=VideoStatus.READY)
    check({v.id for v in only_ready.items} == {video.id, second.parsed.id}, "status filter")

    # Retry: a third video whose bytes are no video fails, and is retried (failing again).
    third = create_video.sync(client=client, body=CreateVideoIn(title="Not a video"))
    put(third.upload, b"these bytes are no video" * 100)
    complete_upload.sync(third.id, client=client)
    wait_for("the third video FAILED", status_of(client, third.id, VideoStatus.FAILED))
    retried = retry_video.sync_detailed(third.id, client=client)
    check(retried.status_code == HTTPStatus.ACCEPTED, f"retry: {retried.status_code}")
    check(retried.parsed.attempts == 0, f"attempts reset: {retried.parsed.attempts}")
    failed_again = wait_for(
        "the retried video FAILED", status_of(client, third.id, VideoStatus.FAILED)
    )
    report["retried_error_code"] = str(failed_again.error.code)

    # Cancel a fourth video before its upload; retrying it is refused, as a parsed problem.
    fourth = create_video.sync(client=client, body=CreateVideoIn(title="Week 4"))
    canceled = cancel_video.sync_detailed(fourth.id, client=client)
    check(canceled.status_code == HTTPStatus.OK, f"cancel: {canceled.status_code}")
    check(canceled.parsed.status == VideoStatus.CANCELED, "canceled")
    refused = retry_video.sync_detailed(fourth.id, client=client)
    check(
        refused.status_code == HTTPStatus.CONFLICT, f"retry never uploaded: {refused.status_code}"
    )
    check(isinstance(refused.parsed, ProblemOut), "the 409 parsed as the problem model")
    report["refused_retry"] = {"code": str(refused.parsed.code), "detail": refused.parsed.detail}

    # A 4xx as the problem model: another tenant's (or no) video.
    missing = get_video.sync_detailed(2**62, client=client)
    check(missing.status_code == HTTPStatus.NOT_FOUND, f"missing video: {missing.status_code}")
    check(isinstance(missing.parsed, ProblemOut), "the 404 parsed as the problem model")
    report["not_found"] = {"code": str(missing.parsed.code), "type": missing.parsed.type_}

    # The webhook deliveries of the first video, as the dispatcher recorded them.
    def delivered():
        rows = list_video_deliveries.sync(video.id, client=client).items
        return rows if any(d.status == DeliveryStatus.DELIVERED for d in rows) else None

    deliveries = wait_for("a delivered webhook", delivered)
    report["delivery_event_types"] = sorted({str(d.event_type) for d in deliveries})
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:5])
