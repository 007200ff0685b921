"""Who may watch: playback ids, policies, tokens, signing keys, /media/ and its one refusal,
rewritten playlists, CloudFront signed URLs, and URLs that never name a tenant or a video."""

from __future__ import annotations

import base64
import dataclasses
import json
import posixpath
import re
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from apps.api.playback.links import api_token_key
from apps.api.presenters.videos import webhook_video
from apps.support.video.models import Video
from src.infrastructure.playback.tokens import mint, new_rsa_key_pair
from tests.integration.api.conftest import (
    PUBLISHED_FILES,
    ApiHarness,
    assert_problem,
    publish,
)
from tests.integration.api.test_web_session import signed_in

pytestmark = pytest.mark.django_db

SEGMENT = PUBLISHED_FILES["360p/seg_000.ts"]


def ready(api: ApiHarness, key: str | None = None, **create) -> dict:
    """A READY video (as the API shows it afterwards)."""
    video = api.uploaded(**create) if key is None else _uploaded_as(api, key, **create)
    publish(api, video["id"], PUBLISHED_FILES)
    return api.get(f"/api/v1/videos/{video['id']}", key=key).json()


def _uploaded_as(api: ApiHarness, key: str, **create) -> dict:
    video = api.post_json("/api/v1/videos", {"title": "Theirs", **create}, key=key).json()
    api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"bytes", key=key)
    return api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {}, key=key).json()


def fetch(api: ApiHarness, url: str, **headers):
    """GET a URL the API handed out, as a player would (no API key)."""
    parts = urlsplit(url)
    response = api.client.get(parts.path, parse_qs(parts.query), headers=headers)
    if response.streaming:
        response.body = b"".join(response.streaming_content)
    else:
        response.body = response.content
    return response


def refusal(response) -> tuple:
    """What a refusal tells: everything but the request's own trace id."""
    body = assert_problem(response, 403, "PLAYBACK_DENIED")
    return response.status_code, {k: v for k, v in body.items() if k != "trace_id"}


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


CDN = "https://d111.cloudfront.test"


def behind_a_cdn(settings) -> str:
    """VIDEO_PUBLIC_BASE_URL and a CloudFront key pair (made here): segments go to the CDN,
    signed; the public half, to verify them."""
    private_pem, public_pem = new_rsa_key_pair()
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        public_base_url=CDN,
        playback=dataclasses.replace(
            settings.CONFIG.playback,
            cloudfront_key_pair_id="K2JCJMDEHXQW5F",
            cloudfront_private_key=private_pem,
        ),
    )
    return public_pem


def cf_b64(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def test_every_video_gets_a_playback_id_and_the_default_policy(api: ApiHarness):
    first, second = api.create(), api.create()
    assert first["playback_policy"] == "signed"
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", first["playback_id"])  # 144 random bits
    assert first["playback_id"] != second["playback_id"]
    public = api.create(playback_policy="public")
    assert public["playback_policy"] == "public"
    bad = api.post_json("/api/v1/videos", {"title": "x", "playback_policy": "open"})
    assert_problem(bad, 422, "VALIDATION_FAILED")


def test_default_policy_follows_the_setting_and_multipart_takes_the_field(
    api: ApiHarness, settings
):
    api.rebuild(playback=dataclasses.replace(api.services.config.playback, default_policy="public"))
    assert api.create()["playback_policy"] == "public"
    form = api.client.post(
        "/api/v1/videos",
        {"title": "Form", "playback_policy": "signed", "file": _file(b"bytes")},
        headers=api.headers(),
    )
    assert form.status_code == 202, form.content
    assert form.json()["playback_policy"] == "signed"


def _file(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("lecture.mp4", data, content_type="video/mp4")


def test_patch_changes_the_policy_and_the_next_request_follows_it(api: ApiHarness):
    video = ready(api)
    master = video["assets"]["master_playlist_url"]
    bare = master.split("?")[0]
    assert fetch(api, bare).status_code == 403
    patched = api.client.patch(
        f"/api/v1/videos/{video['id']}",
        data=json.dumps({"playback_policy": "public"}),
        content_type="application/json",
        headers=api.headers(),
    )
    assert patched.status_code == 200 and patched.json()["playback_policy"] == "public"
    assert patched.json()["assets"]["master_playlist_url"] == bare  # no token needed now
    opened = fetch(api, bare)
    assert opened.status_code == 200 and opened["Cache-Control"].startswith("public")
    wrong = api.client.patch(
        f"/api/v1/videos/{video['id']}",
        data=json.dumps({"playback_policy": "nobody"}),
        content_type="application/json",
        headers=api.headers(),
    )
    assert_problem(wrong, 422, "VALIDATION_FAILED")
    _other, other_key = api.new_tenant("academy-p")
    theirs = api.client.patch(
        f"/api/v1/videos/{video['id']}",
        data=json.dumps({"playback_policy": "signed"}),
        content_type="application/json",
        headers=api.headers(other_key),
    )
    assert_problem(theirs, 404, "NOT_FOUND")


def test_a_signed_video_plays_from_the_master_url_alone(api: ApiHarness):
    video = ready(api)
    master = fetch(api, video["assets"]["master_playlist_url"])
    assert master.status_code == 200
    assert master["Content-Type"] == "application/vnd.apple.mpegurl"
    assert master["Cache-Control"].startswith("private")  # never kept by a shared cache
    token = token_of(video["assets"]["master_playlist_url"])
    variant_uri = next(line for line in master.body.decode().splitlines() if "m3u8" in line)
    assert variant_uri == f"360p/index.m3u8?token={token}"
    base = video["assets"]["master_playlist_url"].rsplit("/", 1)[0]
    variant = fetch(api, f"{base}/{variant_uri}")
    assert variant.status_code == 200
    segment_uri = next(line for line in variant.body.decode().splitlines() if ".ts" in line)
    assert segment_uri == f"seg_000.ts?token={token}"
    segment = fetch(api, f"{base}/360p/{segment_uri}", Range="bytes=10-19")
    assert segment.status_code == 206 and segment.body == SEGMENT[10:20]
    assert segment["Content-Range"] == f"bytes 10-19/{len(SEGMENT)}"
    assert segment["Cache-Control"].startswith("private")
    tail = fetch(api, f"{base}/360p/{segment_uri}", Range="bytes=-5")
    assert tail.body == SEGMENT[-5:]
    thumbnail = fetch(api, video["assets"]["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.body == PUBLISHED_FILES["thumbnail.jpg"]
    # Audiences do not mix: the playlists' token does not open the thumbnail, nor the reverse.
    assert fetch(api, f"{base}/thumbnail.jpg?token={token}").status_code == 403
    thumb_token = token_of(video["assets"]["thumbnail_url"])
    assert fetch(api, f"{base}/master.m3u8?token={thumb_token}").status_code == 403


def test_every_bad_case_gets_one_and_the_same_refusal(api: ApiHarness):
    video = ready(api)
    other = ready(api)
    master = video["assets"]["master_playlist_url"]
    base = master.split("?")[0]
    token = token_of(master)
    head, payload, signature = token.split(".")
    tampered_claims = (
        base64.urlsafe_b64encode(
            json.dumps({"sub": other["playback_id"], "aud": "v", "exp": 2**31}).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    expired = mint(video["playback_id"], "v", 60, api_token_key(), now=time.time() - 3600).token
    bad_requests = {
        "no token": base,
        "empty token": f"{base}?token=",
        "garbage": f"{base}?token=not-a-jwt",
        "tampered signature": f"{base}?token={head}.{payload}.{signature[:-4]}AAAA",
        "tampered claims": f"{base}?token={head}.{tampered_claims}.{signature}",
        "expired": f"{base}?token={expired}",
        "another video's token": f"{base}?token={token_of(other['assets']['master_playlist_url'])}",
        "unknown playback id": f"/media/{'A' * 24}/master.m3u8?token={token}",
        "unsigned token": f"{base}?token="
        + jwt.encode({"sub": video["playback_id"], "aud": "v", "exp": 2**31}, None, "none"),
        "the old storage path": f"/media/tenants/{api.tenant.id}/videos/{video['id']}"
        "/hls/1/master.m3u8",
        "the storage path": f"/media/{Video.objects.get(pk=video['id']).hls_key}?token={token}",
    }
    answers = {name: refusal(fetch(api, url)) for name, url in bad_requests.items()}
    assert len(set(json.dumps(a, sort_keys=True) for a in answers.values())) == 1, answers
    # The refused token never reaches the log's fields either (checked in test_logs_*).
    assert fetch(api, master).status_code == 200


ODD_PATHS = [
    "/media/{pid}/./master.m3u8",
    "/media/{pid}//master.m3u8",
    "/media/{pid}/....//master.m3u8",
    "/media/{pid}/../{pid}/master.m3u8",
    "/media/{pid}/%2e%2e/%2e%2e/source/x.mp4",
    "/media/{pid}/360p%2f..%2fmaster.m3u8",
    "/media/{pid}/%2E/master.m3u8",
    "/media/{pid}/.hidden",
    "/media/{pid}/360p/seg_000.ts%00",
    "/media//{pid}/master.m3u8",
    "/media/{pid}",
    "/media/" + "a/" * 40 + "x.ts",
    "/media/{pid}/" + "x" * 5000,
]


@pytest.mark.parametrize("template", ODD_PATHS)
def test_odd_media_paths_are_refused_never_a_crash(api: ApiHarness, template: str):
    video = ready(api, playback_policy="public")
    path = template.replace("{pid}", video["playback_id"])
    response = api.client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert response["Content-Type"] == "application/problem+json"
    assert b"Traceback" not in response.content


def test_ranges_that_cannot_be_satisfied_are_416_even_with_thousands_of_digits(api: ApiHarness):
    video = ready(api, playback_policy="public")
    segment = video["assets"]["master_playlist_url"].replace("master.m3u8", "360p/seg_000.ts")
    for header in ("bytes=" + "9" * 5000 + "-", "bytes=0-" + "1" * 4000, "bytes=999999-", "x"):
        response = fetch(api, segment, Range=header)
        assert_problem(response, 416, "VALIDATION_FAILED")
        assert response["Content-Range"] == f"bytes */{len(SEGMENT)}"
        assert len(response.content) < 1000  # the header is not echoed back


def test_a_missing_file_of_a_video_one_may_watch_is_404(api: ApiHarness):
    video = ready(api, playback_policy="public")
    missing = video["assets"]["master_playlist_url"].replace("master.m3u8", "missing.ts")
    assert_problem(fetch(api, missing), 404, "NOT_FOUND")


def test_rotation_stops_every_old_url_at_once(api: ApiHarness):
    video = ready(api)
    old = video["assets"]["master_playlist_url"]
    rotated = api.post_json(f"/api/v1/videos/{video['id']}/playback-id/rotate", {})
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["playback_id"] != video["playback_id"]
    assert refusal(fetch(api, old)) == refusal(fetch(api, old.split("?")[0]))
    assert fetch(api, body["assets"]["master_playlist_url"]).status_code == 200
    public = ready(api, playback_policy="public")
    api.post_json(f"/api/v1/videos/{public['id']}/playback-id/rotate", {})
    assert fetch(api, public["assets"]["master_playlist_url"]).status_code == 403


def test_playback_tokens_route(api: ApiHarness):
    video = ready(api)
    path = f"/api/v1/videos/{video['id']}/playback-tokens"
    made = api.post_json(path, {"ttl_seconds": 120, "audience": "v", "viewer": "student-7"})
    assert made.status_code == 201, made.content
    body = made.json()
    assert set(body) == {"token", "expires_at", "master_playlist_url", "thumbnail_url"}
    assert token_of(body["master_playlist_url"]) == body["token"]
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == video["playback_id"] and claims["aud"] == "v"
    assert claims["viewer"] == "student-7"
    assert 100 <= claims["exp"] - time.time() <= 130
    assert fetch(api, body["master_playlist_url"]).status_code == 200
    thumb = api.post_json(path, {"audience": "t"}).json()
    assert token_of(thumb["thumbnail_url"]) == thumb["token"]
    assert fetch(api, thumb["thumbnail_url"]).status_code == 200
    for bad in ({"ttl_seconds": 5}, {"ttl_seconds": 10**9}, {"audience": "x"}, {"other": 1}):
        assert_problem(api.post_json(path, bad), 422, "VALIDATION_FAILED")
    waiting = api.create()
    not_yet = api.post_json(f"/api/v1/videos/{waiting['id']}/playback-tokens", {})
    assert_problem(not_yet, 409, "INVALID_STATE")
    _other, other_key = api.new_tenant("academy-q")
    assert_problem(api.post_json(path, {}, key=other_key), 404, "NOT_FOUND")


def test_signing_keys_sign_tokens_locally_until_revoked(api: ApiHarness):
    video = ready(api)
    created = api.post_json("/api/v1/signing-keys", {})
    assert created.status_code == 201, created.content
    key = created.json()
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    listed = api.get("/api/v1/signing-keys").json()["items"]
    assert [k["id"] for k in listed] == [key["id"]] and "private_key" not in listed[0]
    claims = {"sub": video["playback_id"], "aud": "v", "exp": int(time.time()) + 300}
    local = jwt.encode(claims, key["private_key"], algorithm="RS256", headers={"kid": key["id"]})
    base = video["assets"]["master_playlist_url"].split("?")[0]
    assert fetch(api, f"{base}?token={local}").status_code == 200
    # The same key pair signing as HS256 with the public key (algorithm confusion) fails.
    from apps.api.models import PlaybackSigningKey

    public_pem = PlaybackSigningKey.objects.get(pk=key["id"]).public_key_pem
    assert "PRIVATE" not in public_pem  # the private key is not kept
    # Another tenant's key cannot sign for this video.
    _other, other_key = api.new_tenant("academy-r")
    theirs = api.post_json("/api/v1/signing-keys", {}, key=other_key).json()
    foreign = jwt.encode(
        claims, theirs["private_key"], algorithm="RS256", headers={"kid": theirs["id"]}
    )
    first = refusal(fetch(api, f"{base}?token={foreign}"))
    assert_problem(
        api.client.delete(f"/api/v1/signing-keys/{key['id']}", headers=api.headers(other_key)),
        404,
        "NOT_FOUND",
    )
    deleted = api.client.delete(f"/api/v1/signing-keys/{key['id']}", headers=api.headers())
    assert deleted.status_code == 204
    assert refusal(fetch(api, f"{base}?token={local}")) == first
    assert api.get("/api/v1/signing-keys").json()["items"] == []
    assert_problem(
        api.client.delete(f"/api/v1/signing-keys/{key['id']}", headers=api.headers()),
        404,
        "NOT_FOUND",
    )


def test_cloudfront_signed_segment_urls_verify_with_the_public_key(api: ApiHarness, settings):
    public_pem = behind_a_cdn(settings)
    video = ready(api)
    row_prefix = posixpath.dirname(Video.objects.get(pk=video["id"]).hls_key)
    assert re.fullmatch(r"media/[0-9a-f]{32}/[0-9a-f]{20}", row_prefix)  # no id in it
    master = fetch(api, video["assets"]["master_playlist_url"])
    assert "360p/index.m3u8?token=" in master.body.decode()  # playlists stay on the API
    base = video["assets"]["master_playlist_url"].rsplit("/", 1)[0]
    token = token_of(video["assets"]["master_playlist_url"])
    variant = fetch(api, f"{base}/360p/index.m3u8?token={token}").body.decode()
    segment_url = next(line for line in variant.splitlines() if ".ts" in line)
    parts = urlsplit(segment_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (f"{CDN}/{row_prefix}/360p/seg_000.ts")
    query = parse_qs(parts.query)
    assert query["Key-Pair-Id"] == ["K2JCJMDEHXQW5F"]
    policy, signature = cf_b64(query["Policy"][0]), cf_b64(query["Signature"][0])
    public = serialization.load_pem_public_key(public_pem.encode())
    public.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's
    statement = json.loads(policy)["Statement"][0]
    assert statement["Resource"] == f"{CDN}/{row_prefix}/*"
    expires = statement["Condition"]["DateLessThan"]["AWS:EpochTime"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert expires >= claims["exp"]
    # The distribution requires signatures on every path: a public video's segments are
    # signed too (no token needed to get the playlist that carries them).
    public_video = ready(api, playback_policy="public")
    plain = fetch(
        api, public_video["assets"]["master_playlist_url"].replace("master", "360p/index")
    )
    assert plain.status_code == 200
    assert f"{CDN}/" in plain.body.decode()
    assert "Signature=" in plain.body.decode()


def test_a_cdn_without_a_signing_key_never_gets_a_signed_videos_segments(api: ApiHarness, settings):
    settings.CONFIG = dataclasses.replace(settings.CONFIG, public_base_url="https://cdn.test")
    signed, public = ready(api), ready(api, playback_policy="public")
    signed_variant = signed["assets"]["master_playlist_url"].replace("master", "360p/index")
    assert "cdn.test" not in fetch(api, signed_variant).body.decode()
    public_variant = public["assets"]["master_playlist_url"].replace("master", "360p/index")
    assert "https://cdn.test/" in fetch(api, public_variant).body.decode()


def test_webhook_payloads_name_the_playback_id_and_only_public_urls(api: ApiHarness):
    signed = ready(api)
    public = ready(api, playback_policy="public")
    repo = api.services.repository
    signed_data = webhook_video(repo.get(signed["id"]))
    assert signed_data["playback_id"] == signed["playback_id"]
    assert signed_data["playback_policy"] == "signed"
    assert signed_data["assets"] is None  # a stored payload carries no token
    public_data = webhook_video(repo.get(public["id"]))
    assert public_data["assets"]["master_playlist_url"].endswith(
        f"/media/{public['playback_id']}/master.m3u8"
    )


def _urls(text: str) -> list[str]:
    return re.findall(r"""(?:https?://[^\s"'<>]+|/media/[^\s"'<>]+)""", text)


def _ready_after_claims(api: ApiHarness, claims: int, **create) -> dict:
    """A READY video published by its claim number `claims` (the ones before died)."""
    video = api.uploaded(**create)
    Video.objects.filter(pk=video["id"]).update(lease_token=claims - 1)
    publish(api, video["id"], PUBLISHED_FILES)
    return api.get(f"/api/v1/videos/{video['id']}").json()


@pytest.mark.parametrize("where", ["api", "cdn"])
def test_no_url_anyone_is_given_names_a_tenant_a_video_or_a_claim(
    api: ApiHarness, settings, where: str
):
    """Every URL from the API, the web page, the webhook payloads and the playlists; behind a
    CDN the segments' signed CloudFront URLs (and the resource their policy signs) too."""
    public_pem = behind_a_cdn(settings) if where == "cdn" else None
    signed = _ready_after_claims(api, 4711)
    public = _ready_after_claims(api, 815, playback_policy="public")
    produced: list[str] = []
    for video in (signed, public):
        vid = video["id"]
        produced += _urls(api.get(f"/api/v1/videos/{vid}").content.decode())
        produced += _urls(api.get(f"/api/v1/videos/{vid}/assets/published").content.decode())
        produced += _urls(
            api.post_json(f"/api/v1/videos/{vid}/playback-tokens", {}).content.decode()
        )
        produced += _urls(json.dumps(webhook_video(api.services.repository.get(vid))))
        master = api.get(f"/api/v1/videos/{vid}").json()["assets"]["master_playlist_url"]
        base, query = master.rsplit("/", 1)[0], urlsplit(master).query
        for playlist in ("master.m3u8", "360p/index.m3u8"):
            text = fetch(api, f"{base}/{playlist}?{query}").body.decode()
            produced += [
                line if line.startswith("https://") else f"{base}/{line}"
                for line in text.splitlines()
                if line[:1] not in "#"
            ]
        page = signed_in(api).get(f"/videos/{vid}").content.decode()
        produced += [u for u in _urls(page) if "/media/" in u]
    produced += _urls(api.get("/api/v1/videos").content.decode())
    media = [u for u in produced if "/media/" in u or u.startswith(CDN)]
    assert len(media) > 20
    on_cdn = [u for u in media if u.startswith(CDN)]
    assert len(on_cdn) == (2 if where == "cdn" else 0)  # one segment of each video
    rows = Video.objects.filter(pk__in=[signed["id"], public["id"]])
    assert sorted(rows.values_list("lease_token", flat=True)) == [815, 4711]
    ids = {str(signed["id"]), str(public["id"]), str(api.tenant.id), "4711", "815"}

    def assert_names_none(url: str) -> None:
        parts = urlsplit(url)
        # The API's /media/{playback id}/…; the CDN's whole path (its storage key).
        path = parts.path if url.startswith(CDN) else parts.path.split("/media/", 1)[1]
        assert "tenants" not in url and "videos" not in path, url
        assert "/hls/" not in url, url
        segments = set(path.split("/"))
        values = {v for vs in parse_qs(parts.query).values() for v in vs}
        assert not (segments | values) & ids, url

    for url in media:
        assert_names_none(url)
    for url in on_cdn:  # the policy's resource is a URL too, and it verifies
        query = parse_qs(urlsplit(url).query)
        policy, signature = cf_b64(query["Policy"][0]), cf_b64(query["Signature"][0])
        key = serialization.load_pem_public_key(public_pem.encode())
        key.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
        resource = json.loads(policy)["Statement"][0]["Resource"]
        assert resource.startswith(f"{CDN}/media/") and resource.endswith("/*")
        assert_names_none(resource[: -len("*")] + "x.ts")


def test_the_media_salt_is_shown_by_nothing(api: ApiHarness, settings):
    """The secret the output folders derive from: in no API answer, page, webhook payload or
    stored event, nor the operators' admin."""
    from django.contrib.auth.models import User
    from django.test import Client

    from apps.support.webhooks.models import WebhookEvent

    behind_a_cdn(settings)
    video = ready(api, playback_policy="public")
    vid = video["id"]
    salt = Video.objects.get(pk=vid).media_salt
    assert len(salt) == 64
    operator = Client()
    operator.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw-long-1"))
    master = video["assets"]["master_playlist_url"]
    shown = [
        api.get(f"/api/v1/videos/{vid}").content,
        api.get("/api/v1/videos").content,
        api.get(f"/api/v1/videos/{vid}/assets/published").content,
        api.post_json(f"/api/v1/videos/{vid}/playback-tokens", {}).content,
        json.dumps(webhook_video(api.services.repository.get(vid))).encode(),
        json.dumps(list(WebhookEvent.objects.filter(video_id=vid).values("video"))).encode(),
        fetch(api, master).body,
        fetch(api, master.replace("master", "360p/index")).body,
        signed_in(api).get(f"/videos/{vid}").content,
        operator.get(f"/admin/video/video/{vid}/change/").content,
        operator.get("/admin/video/video/").content,
    ]
    assert WebhookEvent.objects.filter(video_id=vid).exists()  # the snapshots were looked at
    for body in shown:
        assert salt.encode() not in body and salt[:16].encode() not in body


def test_a_legacy_output_behind_a_cdn_is_served_by_the_api_never_the_cdn(api: ApiHarness, settings):
    """A video published before the media salt (`tenants/…/hls/N/`) keeps playing: its
    segments stay on the API (the CDN reads only `media/*`, and such a path names ids)."""
    behind_a_cdn(settings)
    video = ready(api)
    row = Video.objects.get(pk=video["id"])
    legacy = f"tenants/{api.tenant.id}/videos/{row.pk}/hls/{row.lease_token}"
    for name, data in PUBLISHED_FILES.items():
        path = api.storage_root / legacy / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    Video.objects.filter(pk=row.pk).update(
        hls_key=f"{legacy}/master.m3u8", thumbnail_key=f"{legacy}/thumbnail.jpg"
    )
    master = video["assets"]["master_playlist_url"]
    base, token = master.rsplit("/", 1)[0], token_of(master)
    variant = fetch(api, f"{base}/360p/index.m3u8?token={token}")
    assert variant.status_code == 200
    text = variant.body.decode()
    assert f"seg_000.ts?token={token}" in text.splitlines() and CDN not in text
    assert fetch(api, f"{base}/360p/seg_000.ts?token={token}").body == SEGMENT


def test_a_key_revoked_by_another_process_stops_working_within_seconds(api: ApiHarness):
    from django.utils import timezone

    from apps.api.models import PlaybackSigningKey
    from apps.api.playback import signing_keys
    from bench.harness import wait_until

    key = api.post_json("/api/v1/signing-keys", {}).json()
    assert signing_keys.lookup(key["id"]) is not None  # now remembered by this process
    # Another API process revokes it: only the row changes here.
    PlaybackSigningKey.objects.filter(pk=key["id"]).update(revoked_at=timezone.now())
    started = time.monotonic()
    wait_until(
        lambda: signing_keys.lookup(key["id"]) is None,
        signing_keys.KEY_STATUS_SECONDS + 5,
        interval=0.05,
        what="the revocation to reach this process",
    )
    assert time.monotonic() - started <= signing_keys.KEY_STATUS_SECONDS + 1
