"""/api/v1/webhooks: endpoints, the delivery log, redelivery, the per-video log; the payload's
`data` is exactly GET /api/v1/videos/{id}, and a caption event's adds the track it is about."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from academy.bootstrap import build_webhook_dispatcher
from apps.api.presenters.videos import webhook_video
from src.application.domain import Cue, ErrorCode
from src.application.ports.captions import CaptionResult
from src.application.ports.video_repository import VideoResult
from tests.integration.api.conftest import PUBLISHED_FILES, ApiHarness, publish
from tests.webhook_receiver import Reply, WebhookReceiver, body_of


@pytest.fixture
def dev_hooks(settings):
    """Loopback receivers allowed (VIDEO_WEBHOOK_ALLOW_INSECURE/PRIVATE=1), as in local dev."""
    config = settings.CONFIG
    settings.CONFIG = dataclasses.replace(
        config,
        webhooks=dataclasses.replace(
            config.webhooks,
            allow_insecure=True,
            allow_private=True,
            api_base_url="http://testserver",
        ),
    )
    return settings.CONFIG


@pytest.fixture
def receiver():
    r = WebhookReceiver().start()
    yield r
    r.stop()


def _ready(api: ApiHarness) -> int:
    repo = api.services.repository
    video_id = repo.create_video(api.tenant.pk, title="Week 3", source_key="s.mp4")
    lease = repo.try_claim_video(video_id, "worker-a")
    assert repo.complete(lease, VideoResult(hls_key=f"tenants/1/videos/{video_id}/hls/m.m3u8"))
    return video_id


def _drain(config, **kw):
    clock = kw.pop("clock", None)
    extra = {"clock": clock} if clock else {}
    return build_webhook_dispatcher(config, webhook_video, rand=lambda: 0.5, **extra, **kw).drain()


def test_create_shows_the_secret_once_and_lists_without_it(api: ApiHarness, dev_hooks, receiver):
    created = api.post_json(
        "/api/v1/webhooks", {"url": receiver.url, "event_types": ["video.ready"]}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["event_types"] == ["video.ready"] and body["enabled"] is True
    assert created["Location"] == f"/api/v1/webhooks/{body['id']}"
    listed = api.get("/api/v1/webhooks").json()["items"]
    assert [w["id"] for w in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"/api/v1/webhooks/{body['id']}").json()
    every = api.post_json("/api/v1/webhooks", {"url": receiver.url}).json()
    assert every["event_types"] == [
        "video.processing",
        "video.ready",
        "video.failed",
        "video.canceled",
        "video.captions.ready",
        "video.captions.failed",
    ]
    assert every["secret"] != body["secret"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "http://hooks.example.com/in"}, "https://"),
        ({"url": "https://127.0.0.1/in"}, "not a public address"),
        ({"url": "https://169.254.169.254/"}, "not a public address"),
        ({"url": "https://hooks.example.com/", "event_types": ["video.exploded"]}, "event_types"),
        ({"url": "https://hooks.example.com/", "event_types": []}, "event_types"),
        ({"url": "https://hooks.example.com/", "secret": "mine"}, "secret"),
    ],
)
def test_bad_endpoints_are_refused_and_nothing_is_created(api: ApiHarness, body, field):
    response = api.post_json("/api/v1/webhooks", body)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.content.decode()
    assert api.get("/api/v1/webhooks").json()["items"] == []


def test_another_tenant_sees_nothing_and_delete_is_idempotent(api: ApiHarness, dev_hooks):
    hook = api.post_json("/api/v1/webhooks", {"url": "https://hooks.example.com/in"}).json()
    _tenant, other_key = api.new_tenant("academy-b")
    assert api.get(f"/api/v1/webhooks/{hook['id']}", key=other_key).status_code == 404
    assert api.get("/api/v1/webhooks", key=other_key).json()["items"] == []
    assert (
        api.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=api.headers(other_key))
    ).status_code == 204
    assert api.get(f"/api/v1/webhooks/{hook['id']}").status_code == 200  # still there
    assert (
        api.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=api.headers()).status_code
        == 204
    )
    assert api.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert (
        api.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=api.headers()).status_code
        == 204
    )


def test_payload_data_is_the_get_video_body_and_the_log_shows_attempts(
    api: ApiHarness, dev_hooks, receiver
):
    hook = api.post_json(
        "/api/v1/webhooks", {"url": receiver.url, "event_types": ["video.ready"]}
    ).json()
    receiver.secret = hook["secret"]
    receiver.replies.append(Reply(500))
    video_id = _ready(api)
    now = datetime.now(UTC) + timedelta(seconds=1)
    clock = [now]
    assert _drain(dev_hooks, clock=lambda: clock[0]).results == {"retry": 1}
    log = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
    (delivery,) = log
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "PENDING",
        1,
        500,
    )
    assert delivery["next_attempt_at"] is not None and delivery["video_id"] == video_id
    assert [a["status_code"] for a in delivery["log"]] == [500]
    clock[0] = now + timedelta(seconds=6)
    assert _drain(dev_hooks, clock=lambda: clock[0]).results == {"delivered": 1}
    got = receiver.wait_for(2)
    assert all(r.verified for r in got)
    payload = body_of(got[-1])
    assert payload["type"] == "video.ready"
    shown = api.get(f"/api/v1/videos/{video_id}").json()
    # The same object, less the short-lived credentials: the one to follow it live, and the
    # playback token in a signed video's asset URLs (a payload is stored and resent).
    assert shown["playback_policy"] == "signed" and payload["data"]["assets"] is None
    assert payload["data"] == {
        k: v for k, v in shown.items() if k not in ("progress_token", "live", "assets")
    } | {"assets": None}
    assert "progress_token" not in got[-1].body
    (delivery,) = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["next_attempt_at"]) == ("DELIVERED", None)
    assert [a["status_code"] for a in delivery["log"]] == [500, 200]
    assert delivery["event_id"] == got[-1].headers["webhook-id"]
    by_video = api.get(f"/api/v1/videos/{video_id}/webhook-deliveries").json()["items"]
    assert [d["id"] for d in by_video] == [delivery["id"]]

    # Redelivery: the same webhook-id and body, once more.
    again = api.post_json(
        f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver", {}
    )
    assert again.status_code == 202 and again.json()["status"] == "PENDING"
    assert _drain(dev_hooks).results == {"delivered": 1}
    got = receiver.wait_for(3)
    assert got[-1].headers["webhook-id"] == got[-2].headers["webhook-id"]
    assert got[-1].body == got[-2].body
    missing = api.post_json(f"/api/v1/webhooks/{hook['id']}/deliveries/999999/redeliver", {})
    assert missing.status_code == 404


def test_disable_fails_waiting_deliveries_and_enable_clears_the_flags(
    api: ApiHarness, dev_hooks, receiver
):
    hook = api.post_json("/api/v1/webhooks", {"url": receiver.url}).json()
    _ready(api)
    off = api.client.patch(
        f"/api/v1/webhooks/{hook['id']}",
        data='{"enabled": false}',
        content_type="application/json",
        headers=api.headers(),
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    items = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
    assert {(d["status"], d["last_error"]) for d in items} == {
        ("FAILED", "the endpoint was disabled")
    }
    refused = api.post_json(
        f"/api/v1/webhooks/{hook['id']}/deliveries/{items[0]['id']}/redeliver", {}
    )
    assert refused.status_code == 409
    on = api.client.patch(
        f"/api/v1/webhooks/{hook['id']}",
        data='{"enabled": true}',
        content_type="application/json",
        headers=api.headers(),
    )
    assert on.json()["enabled"] is True and on.json()["disabled_reason"] is None
    assert _drain(dev_hooks).claimed == 0


def _captioned(api: ApiHarness, policy: str, *, fail: bool = False) -> int:
    """A READY video whose automatic track a caption worker completed (or failed for good)."""
    video_id = api.uploaded(playback_policy=policy)["id"]
    prefix = publish(api, video_id, PUBLISHED_FILES)
    captions = api.use_cases.captions.captions
    captions.request_auto(video_id, "")
    lease = captions.claim_video(video_id, "captions-worker").lease
    if fail:
        assert captions.fail(lease, ErrorCode.TRANSCRIBE_FAILED, "the model broke", False)
    else:
        folder = f"{prefix}/captions/auto-{lease.token}"
        result = CaptionResult(
            "en", "", f"{folder}/captions.vtt", f"{folder}/index.m3u8", [Cue(0.0, 1.5, "Hello.")]
        )
        assert captions.complete(lease, result)
    return video_id


@pytest.mark.parametrize("policy", ["signed", "public"])
def test_caption_payloads_carry_their_track_with_a_vtt_url_only_when_public(
    api: ApiHarness, dev_hooks, receiver, policy
):
    hook = api.post_json(
        "/api/v1/webhooks",
        {"url": receiver.url, "event_types": ["video.captions.ready", "video.captions.failed"]},
    ).json()
    receiver.secret = hook["secret"]
    ready_id = _captioned(api, policy)
    failed_id = _captioned(api, policy, fail=True)
    assert _drain(dev_hooks).results == {"delivered": 2}
    got = {body_of(r)["type"]: body_of(r)["data"] for r in receiver.wait_for(2)}
    assert all(r.verified for r in receiver.received)

    ready, failed = got["video.captions.ready"], got["video.captions.failed"]
    repo = api.services.repository
    # The video is the usual payload; `track` is the track as the caption list shows it.
    assert {k: v for k, v in ready.items() if k != "track"} == webhook_video(repo.get(ready_id))
    (listed,) = api.get(f"/api/v1/videos/{ready_id}/captions").json()["items"]
    assert ready["track"]["id"] == listed["id"]
    assert {k: v for k, v in ready["track"].items() if k != "vtt_url"} == {
        "id": listed["id"],
        "language": "en",
        "label": listed["label"],
        "kind": "auto",
        "status": "READY",
        "error": None,
        "created_at": listed["created_at"],
    }
    assert failed["id"] == failed_id
    assert {k: failed["track"][k] for k in ("kind", "status", "error", "vtt_url")} == {
        "kind": "auto",
        "status": "FAILED",
        "error": {"code": "TRANSCRIBE_FAILED", "message": "the model broke"},
        "vtt_url": None,
    }

    url = ready["track"]["vtt_url"]
    if policy == "signed":
        assert url is None  # a stored payload carries no token, so no signed URL at all
        assert "?token=" in listed["vtt_url"]
        return
    assert url == listed["vtt_url"]  # the public URL the API gives: no token, the same file
    playback_id = repo.get(ready_id).playback_id
    assert url.startswith(f"http://testserver/media/{playback_id}/captions/")
    path = urlsplit(url).path
    assert "tenants" not in path and "videos" not in path and "?" not in url
    assert not {str(ready_id), str(api.tenant.id)} & set(path.split("/")), url
