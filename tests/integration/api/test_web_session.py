"""The web pages and their session under Django's test client: sign-in, CSRF on every form
and on the API's unsafe methods, the cookie's flags, the Content-Security-Policy, tenant
isolation, the library's filter and pages (the browser tests cover the scripts)."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from apps.api.keys.api_keys import revoke
from src.application.ports.video_repository import VideoResult
from tests.integration.api.conftest import ApiHarness

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
SESSION = "academy_session"


def signed_in(api: ApiHarness, key: str | None = None, csrf: bool = True) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    page = client.get("/sign-in")
    token = page.context["csrf_token"]
    done = client.post("/sign-in", {"api_key": key or api.key, "csrfmiddlewaretoken": str(token)})
    assert done.status_code == 302 and done["Location"] == "/", done.content[:500]
    return client


def csrf_of(client: Client) -> str:
    return str(client.get("/upload").context["csrf_token"])


def test_pages_need_a_session_and_sign_in_checks_the_key(api: ApiHarness):
    client = Client(enforce_csrf_checks=True)
    for path in ("/", "/upload", "/videos/1"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/sign-in?next=")
    token = str(client.get("/sign-in").context["csrf_token"])
    wrong = client.post(
        "/sign-in", {"api_key": "avk_000000000000_nope", "csrfmiddlewaretoken": token}
    )
    assert (
        wrong.status_code == 200 and b"Sign-in failed: The API key is not valid." in wrong.content
    )
    assert SESSION not in wrong.cookies or not wrong.cookies[SESSION].value
    empty = client.post("/sign-in", {"api_key": " ", "csrfmiddlewaretoken": token})
    assert b"Enter your academy" in empty.content
    # The form without its CSRF token is refused with a page saying so.
    forged = Client(enforce_csrf_checks=True).post("/sign-in", {"api_key": api.key})
    assert forged.status_code == 403 and b"The form could not be sent" in forged.content


def test_the_session_cookie_holds_no_key_and_is_httponly_and_lax(api: ApiHarness):
    client = signed_in(api)
    cookie = client.cookies[SESSION]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    # The key is avk_<prefix>_<secret>; the secret itself may hold "_" (URL-safe base64).
    secret = api.key.split("_", 2)[2]
    assert len(secret) > 20 and api.key not in cookie.value and secret not in cookie.value
    assert client.cookies["csrftoken"]["httponly"]
    assert (
        b"API key" not in client.get("/").content or api.key.encode() not in client.get("/").content
    )
    # A cookie changed by hand does not verify: signed out.
    forged = Client()
    forged.cookies[SESSION] = cookie.value[:-2] + (
        "AA" if not cookie.value.endswith("AA") else "BB"
    )
    assert forged.get("/").status_code == 302


def test_outside_debug_the_cookies_are_secure():
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "x" * 50,
        "API_KEY_PEPPER": "y" * 40,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        "DJANGO_SETTINGS_MODULE": "academy.settings",
    }
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.stdout.split() == ["True", "True", "True"], done.stderr
    assert settings.SESSION_COOKIE_SECURE is False  # debug (tests, make serve on a laptop)


def test_the_api_takes_the_session_with_csrf_on_unsafe_methods(api: ApiHarness):
    client = signed_in(api)
    assert client.get("/api/v1/videos").status_code == 200
    body = {"title": "From the page"}
    refused = client.post("/api/v1/videos", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "CSRF" in refused.json()["detail"]
    created = client.post(
        "/api/v1/videos",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": csrf_of(client)},
    )
    assert created.status_code == 201, created.content
    # API clients with a key need no CSRF token, cookie or not.
    assert api.post_json("/api/v1/videos", body).status_code == 201


def test_signing_out_or_revoking_the_key_ends_the_session(api: ApiHarness):
    client = signed_in(api)
    assert client.post("/sign-out").status_code == 403  # CSRF on every form
    assert client.post("/sign-out", {"csrfmiddlewaretoken": csrf_of(client)}).status_code == 302
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/videos").status_code == 401

    client = signed_in(api)
    revoke(api.key)
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/videos").status_code == 401


def test_no_tenant_sees_another_tenants_videos(api: ApiHarness):
    video = api.uploaded(title="Academy A's lecture")
    _other, other_key = api.new_tenant("academy-b")
    intruder = signed_in(api, other_key)
    assert b"Academy A" not in intruder.get("/").content
    page = intruder.get(f"/videos/{video['id']}")
    assert page.status_code == 404 and b"Academy A" not in page.content
    assert intruder.get(f"/api/v1/videos/{video['id']}").status_code == 404
    token = csrf_of(intruder)
    intruder.post(f"/videos/{video['id']}/delete", {"csrfmiddlewaretoken": token})
    deleted = intruder.delete(f"/api/v1/videos/{video['id']}", headers={"X-CSRFToken": token})
    assert deleted.status_code == 204  # idempotent: nothing of theirs to delete
    assert api.get(f"/api/v1/videos/{video['id']}").json()["title"] == "Academy A's lecture"
    # Its owner sees it.
    owner = signed_in(api)
    assert b"Academy A&#x27;s lecture" in owner.get(f"/videos/{video['id']}").content


def _ready(api: ApiHarness) -> int:
    """A video the worker finished: its video.ready event and deliveries are written."""
    repo = api.services.repository
    video_id = repo.create_video(api.tenant.pk, title="Week 4", source_key="s.mp4")
    lease = repo.try_claim_video(video_id, "worker-a")
    assert repo.complete(lease, VideoResult(hls_key=f"tenants/1/videos/{video_id}/hls/m.m3u8"))
    return video_id


def _deliveries(html: str) -> list[tuple[str, str]]:
    """(delivery id, status) of each row of the page's deliveries table."""
    return re.findall(r'<tr data-delivery-id="(\d+)" data-status="([A-Z]+)"', html)


def test_the_video_page_lists_its_webhook_deliveries_to_its_own_tenant_only(
    api: ApiHarness, settings
):
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        webhooks=dataclasses.replace(settings.CONFIG.webhooks, allow_private=True),
    )
    owner = signed_in(api)
    quiet = api.uploaded(title="Before any endpoint")
    page = owner.get(f"/videos/{quiet['id']}").content.decode()
    assert _deliveries(page) == []
    assert re.search(r'<p class="muted" data-empty="no-endpoints">No webhook endpoints', page)
    assert re.search(r'data-empty="no-deliveries" hidden>', page)

    url = "https://hooks.example.com/academy-a/videos"
    hook = api.post_json("/api/v1/webhooks", {"url": url, "event_types": ["video.ready"]})
    assert hook.status_code == 201, hook.content
    page = owner.get(f"/videos/{quiet['id']}").content.decode()
    assert re.search(r'<p class="muted" data-empty="no-deliveries">No deliveries yet', page)
    assert re.search(r'data-empty="no-endpoints" hidden>', page)

    video_id = _ready(api)
    (delivery,) = api.get(f"/api/v1/videos/{video_id}/webhook-deliveries").json()["items"]
    page = owner.get(f"/videos/{video_id}").content.decode()
    assert _deliveries(page) == [(str(delivery["id"]), "PENDING")]
    row = page[page.index('<tr data-delivery-id="') :]
    row = row[: row.index("</tr>")]
    assert ">video.ready</th>" in row and url in row and ">Pending</span>" in row
    assert 'data-label="Attempts">0</td>' in row and "Next try <time datetime=" in row
    # A delivery still waiting: the page's script looks again for a while.
    assert 'id="deliveries" aria-labelledby="deliveries-heading" data-waiting="1"' in page
    assert "<caption" in page and '<th scope="col">Last response</th>' in page

    # Another tenant: the video is a 404 page without the endpoint; its own video page and
    # the API show none of this tenant's deliveries.
    _other, other_key = api.new_tenant("academy-b")
    intruder = signed_in(api, other_key)
    refused = intruder.get(f"/videos/{video_id}")
    assert refused.status_code == 404 and url.encode() not in refused.content
    listed = intruder.get(f"/api/v1/videos/{video_id}/webhook-deliveries")
    assert listed.status_code == 404 and url not in listed.text
    assert listed.json()["code"] == "NOT_FOUND"
    assert intruder.get("/api/v1/webhooks").json()["items"] == []
    theirs = api.post_json("/api/v1/videos", {"title": "Academy B's lecture"}, key=other_key).json()
    page = intruder.get(f"/videos/{theirs['id']}").content.decode()
    assert _deliveries(page) == [] and url not in page
    assert re.search(r'<p class="muted" data-empty="no-endpoints">No webhook endpoints', page)


def test_pages_carry_a_csp_that_allows_only_their_own_scripts(api: ApiHarness):
    client = signed_in(api)
    video = api.uploaded(title="Policy")
    for path in ("/", "/upload", f"/videos/{video['id']}", "/sign-in"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy, policy
        assert "frame-ancestors 'none'" in policy
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script on {path}"
        assert not re.search(r"\son[a-z]+=", html), f"inline handler on {path}"
        for src in re.findall(r'<script[^>]*src="([^"]+)"', html):
            assert src.startswith("/static/"), src
    assert "hls.min.js" in client.get(f"/videos/{video['id']}").content.decode()


def test_the_library_filters_by_status_and_pages(api: ApiHarness):
    ids = [api.create(title=f"Lecture {n}")["id"] for n in range(23)]
    done = api.uploaded(title="Uploaded one")
    client = signed_in(api)
    first = client.get("/")
    rows = re.findall(r'data-video-id="(\d+)" data-status', first.content.decode())
    assert [int(r) for r in rows] == [done["id"], *ids[::-1][:19]]
    next_link = re.search(r'href="/\?(cursor=[^"]+)" rel="next"', first.content.decode())
    second = client.get(f"/?{next_link.group(1)}")
    rows2 = re.findall(r'data-video-id="(\d+)" data-status', second.content.decode())
    assert [int(r) for r in rows2] == ids[::-1][19:]
    assert b'rel="next"' not in second.content and b"First page" in second.content

    uploaded = client.get("/?status=UPLOADED").content.decode()
    assert re.findall(r'data-video-id="(\d+)" data-status', uploaded) == [str(done["id"])]
    assert b"No video is READY" in client.get("/?status=READY").content
    bad = client.get("/?status=DONE")
    assert bad.status_code == 400 and b"unknown status" in bad.content
    assert client.get("/?cursor=not-ours").status_code == 400


def test_the_buttons_work_without_javascript(api: ApiHarness):
    video = api.uploaded(title="Plain form")
    client = signed_in(api)
    token = csrf_of(client)
    cancel = client.post(
        f"/videos/{video['id']}/cancel", {"csrfmiddlewaretoken": token, "next": "/"}
    )
    assert cancel.status_code == 302 and cancel["Location"] == "/"
    assert api.get(f"/api/v1/videos/{video['id']}").json()["status"] == "CANCELED"
    page = client.get("/").content.decode()
    assert f"Video {video['id']} is canceled." in page
    # A retry the status does not allow says why (this one still awaits its upload); an
    # unknown action is a 404 page.
    waiting = api.create(title="Never uploaded")
    refused = client.post(
        f"/videos/{waiting['id']}/retry", {"csrfmiddlewaretoken": token}, follow=True
    )
    assert "cannot be retried: it is AWAITING_UPLOAD" in refused.content.decode()
    assert (
        client.post(f"/videos/{video['id']}/explode", {"csrfmiddlewaretoken": token}).status_code
        == 404
    )
    # A `next` pointing elsewhere is not followed.
    away = client.post(
        f"/videos/{video['id']}/delete",
        {"csrfmiddlewaretoken": token, "next": "https://evil.example/"},
    )
    assert away["Location"] == "/"
    assert api.get(f"/api/v1/videos/{video['id']}").status_code == 404


def test_deleting_another_tenants_video_says_it_does_not_exist(api: ApiHarness):
    video = api.uploaded(title="Academy A's lecture")
    _other, other_key = api.new_tenant("academy-b")
    intruder = signed_in(api, other_key)
    answer = intruder.post(
        f"/videos/{video['id']}/delete", {"csrfmiddlewaretoken": csrf_of(intruder)}, follow=True
    )
    page = answer.content.decode()
    assert f"Video {video['id']} does not exist." in page
    assert "is deleted" not in page
    assert api.get(f"/api/v1/videos/{video['id']}").status_code == 200  # untouched
