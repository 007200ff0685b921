"""Caption tracks through the API: upload (SRT, WebVTT), list, replace, delete, the master's
subtitle group and the published assets; every bad input a clear problem with nothing
written."""

from __future__ import annotations

import dataclasses
import json

import pytest

from apps.support.captions.models import CaptionTrack
from tests.integration.api.conftest import ApiHarness, assert_problem
from tests.integration.api.test_api_commands import FILES, _publish

pytestmark = pytest.mark.django_db

SRT = b"""1
00:00:01,000 --> 00:00:03,500
Welcome to the lecture.

2
00:00:04,000 --> 00:00:07,000
Today: vectors.
"""
VTT = b"""WEBVTT

00:00:00.500 --> 00:00:02.000
Bonjour.

00:00:02.500 --> 00:00:04.000
Les vecteurs.
"""


def ready_video(api: ApiHarness) -> tuple[int, str]:
    video = api.uploaded()
    return video["id"], _publish(api, video["id"], FILES)


def upload(api: ApiHarness, video_id: int, data: bytes, language="en", label="English", key=None):
    form = {"file": _File(data), "language": language}
    if label is not None:
        form["label"] = label
    return api.client.post(
        f"/api/v1/videos/{video_id}/captions", data=form, headers=api.headers(key)
    )


class _File:
    """A file part for Django's test client."""

    def __init__(self, data: bytes, name: str = "captions.srt") -> None:
        import io

        self._io = io.BytesIO(data)
        self.name = name

    def read(self, *args):
        return self._io.read(*args)


def stored(api: ApiHarness, prefix: str) -> set[str]:
    root = api.storage_root / prefix / "captions"
    return (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        if root.exists()
        else set()
    )


def master(api: ApiHarness, prefix: str) -> str:
    return (api.storage_root / prefix / "master.m3u8").read_text()


def test_uploaded_srt_becomes_a_ready_track_listed_by_the_master_and_published(api):
    video_id, prefix = ready_video(api)
    response = upload(api, video_id, SRT)
    assert response.status_code == 201, response.content
    track = response.json()
    assert track["kind"] == "uploaded" and track["status"] == "READY"
    assert (track["language"], track["label"]) == ("en", "English")
    vtt = api.client.get(track["vtt_url"].removeprefix("http://testserver"))
    assert vtt.status_code == 200
    body = b"".join(vtt.streaming_content).decode()
    assert body.startswith("WEBVTT") and "00:00:01.000 --> 00:00:03.500" in body

    text = master(api, prefix)
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en",NAME="English"' in text
    assert 'SUBTITLES="subs"' in text.splitlines()[-2]

    listed = api.get(f"/api/v1/videos/{video_id}/captions").json()["items"]
    assert [t["id"] for t in listed] == [track["id"]]
    published = api.get(f"/api/v1/videos/{video_id}/assets/published").json()
    assert published["subtitle_url"] == track["vtt_url"]
    assert [c["id"] for c in published["captions"]] == [track["id"]]
    cues = api.use_cases.captions.captions.cues(track["id"])
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 3.5, "Welcome to the lecture."),
        (4.0, 7.0, "Today: vectors."),
    ]


def test_a_new_upload_replaces_the_languages_track_and_its_files(api):
    video_id, prefix = ready_video(api)
    first = upload(api, video_id, SRT).json()
    second = upload(api, video_id, SRT, label="English (edited)").json()
    assert first["id"] != second["id"]
    tracks = CaptionTrack.objects.filter(video_id=video_id)
    assert [t.pk for t in tracks] == [second["id"]]
    folders = {name.split("/")[0] for name in stored(api, prefix)}
    assert len(folders) == 1  # the replaced track's files are gone
    assert master(api, prefix).count("TYPE=SUBTITLES") == 1
    french = upload(api, video_id, VTT, language="fr", label="Français")
    assert french.status_code == 201
    assert master(api, prefix).count("TYPE=SUBTITLES") == 2


def test_an_uploaded_track_replaces_the_automatic_one_of_its_language_in_the_master(api):
    video_id, prefix = ready_video(api)
    captions = api.use_cases.captions.captions
    auto = captions.request_auto(video_id, "en")
    CaptionTrack.objects.filter(pk=auto.id).update(
        status="READY", playlist_key=f"{prefix}/captions/auto-1/index.m3u8"
    )
    api.use_cases.captions.master.refresh(video_id)
    assert "auto-1/index.m3u8" in master(api, prefix)
    upload(api, video_id, SRT)
    text = master(api, prefix)
    assert text.count("TYPE=SUBTITLES") == 1 and "auto-1/" not in text


def test_delete_removes_the_track_from_the_master_and_storage(api):
    video_id, prefix = ready_video(api)
    track = upload(api, video_id, SRT).json()
    response = api.client.delete(
        f"/api/v1/videos/{video_id}/captions/{track['id']}", headers=api.headers()
    )
    assert response.status_code == 204
    assert "SUBTITLES" not in master(api, prefix)
    assert stored(api, prefix) == set()
    again = api.client.delete(
        f"/api/v1/videos/{video_id}/captions/{track['id']}", headers=api.headers()
    )
    assert_problem(again, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"1\n00:00:05,000 --> 00:00:02,000\nBackwards.\n", 1, "before it starts"),
        (SRT.replace(b"00:00:04,000", b"00:00:02,000"), 5, "before the previous one ends"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nCaf\xe9\n", 3, "not UTF-8"),
        (b"1\n00:00:01 -> 00:00:02\nBroken timing\n", 1, "not an SRT cue"),
        (b"WEBVTT\n\n00:01.000 --> nonsense\nBad\n", 3, "cannot be read"),
        (b"just some text\n", 1, "not an SRT cue"),
    ],
)
def test_a_broken_caption_file_is_a_422_naming_the_line_and_stores_nothing(api, data, line, words):
    video_id, prefix = ready_video(api)
    body = assert_problem(upload(api, video_id, data), 422, "CAPTION_INVALID")
    assert f"line {line}:" in body["detail"] and words in body["detail"]
    assert stored(api, prefix) == set()
    assert not CaptionTrack.objects.filter(video_id=video_id).exists()
    assert "SUBTITLES" not in master(api, prefix)


def test_an_oversized_file_is_a_413_and_stores_nothing(api):
    video_id, prefix = ready_video(api)
    config = api.use_cases.config
    api.rebuild(captions=dataclasses.replace(config.captions, max_upload_bytes=2048))
    big = b"".join(
        f"{i}\n00:00:{i % 60:02d},000 --> 00:00:{i % 60:02d},500\nline {i}\n\n".encode()
        for i in range(1, 200)
    )
    assert_problem(upload(api, video_id, big), 413, "PAYLOAD_TOO_LARGE")
    assert stored(api, prefix) == set()


def test_another_tenants_video_is_not_found_and_not_changed(api):
    video_id, _prefix = ready_video(api)
    _tenant, other_key = api.new_tenant("academy-b")
    assert_problem(upload(api, video_id, SRT, key=other_key), 404, "NOT_FOUND")
    assert_problem(api.get(f"/api/v1/videos/{video_id}/captions", other_key), 404, "NOT_FOUND")
    mine = upload(api, video_id, SRT).json()
    gone = api.client.delete(
        f"/api/v1/videos/{video_id}/captions/{mine['id']}", headers=api.headers(other_key)
    )
    assert_problem(gone, 404, "NOT_FOUND")
    assert CaptionTrack.objects.filter(pk=mine["id"]).exists()


def test_captions_wait_for_ready_and_a_language_code(api):
    waiting = api.uploaded()
    assert_problem(upload(api, waiting["id"], SRT), 409, "INVALID_STATE")
    video_id, _prefix = ready_video(api)
    assert_problem(upload(api, video_id, SRT, language="English!"), 422, "VALIDATION_FAILED")
    response = api.client.post(
        f"/api/v1/videos/{video_id}/captions",
        data=SRT,
        content_type="application/x-subrip",
        headers=api.headers(),
    )
    assert_problem(response, 415, "UNSUPPORTED_CONTENT_TYPE")


def test_the_admin_shows_a_videos_tracks(api):
    from django.contrib.auth.models import User
    from django.test import Client

    video_id, _prefix = ready_video(api)
    track = upload(api, video_id, VTT, language="fr", label="Français").json()
    operator = Client()
    operator.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw-long-1"))
    page = operator.get(f"/admin/video/video/{video_id}/change/").content.decode()
    assert "Français" in page and "uploaded" in page
    listing = operator.get("/admin/captions/captiontrack/").content.decode()
    assert f"/admin/captions/captiontrack/{track['id']}/change/" in listing


def test_a_finished_automatic_track_records_its_webhook_event(api):
    from apps.support.webhooks.models import WebhookEvent
    from src.application.domain import Cue
    from src.application.ports.captions import CaptionResult

    video_id, prefix = ready_video(api)
    captions = api.use_cases.captions.captions
    captions.request_auto(video_id, "")
    lease = captions.claim_video(video_id, "captions-worker").lease
    assert lease is not None and lease.source_key
    result = CaptionResult(
        "en", "", f"{prefix}/c/captions.vtt", f"{prefix}/c/index.m3u8", [Cue(0.0, 1.0, "Hello.")]
    )
    assert captions.complete(lease, result)
    assert not captions.complete(lease, result)  # fenced: one completion
    types = list(WebhookEvent.objects.filter(video_id=video_id).values_list("type", flat=True))
    assert types.count("video.captions.ready") == 1
    again = captions.request_auto(video_id, "")
    assert again is None  # one automatic track per video


def test_a_videos_own_language_is_the_one_its_automatic_captions_ask_for(api):
    from apps.support.video.models import Video
    from src.application.caption_job import CaptionRequests
    from src.application.domain import Lease
    from src.application.ports.fakes import InMemoryQueue

    created = api.create(language="pt-BR")
    assert Video.objects.get(pk=created["id"]).caption_language == "pt-BR"
    assert_problem(
        api.post_json("/api/v1/videos", {"title": "L", "language": "Portuguese"}),
        422,
        "VALIDATION_FAILED",
    )
    video_id, _prefix = ready_video(api)
    Video.objects.filter(pk=video_id).update(caption_language="fr")
    captions = api.use_cases.captions.captions
    queue = InMemoryQueue()
    requests = CaptionRequests(
        captions,
        queue,
        language="en",
        language_of=lambda vid: Video.objects.get(pk=vid).caption_language,
    )
    lease = Lease(video_id, api.tenant.id, "w", 1, None, 1)
    requests.after_ready(lease)
    requests.after_ready(lease)  # twice: still one track, one message
    assert captions.get(video_id).language == "fr"
    assert CaptionTrack.objects.filter(video_id=video_id, kind="auto").count() == 1
    first = queue.receive(0, 60)
    assert first is not None and json.loads(first.body)["video_id"] == video_id
    assert queue.receive(0, 60) is None  # one message
