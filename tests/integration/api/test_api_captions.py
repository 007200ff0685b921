"""Caption tracks through the API: upload (SRT, WebVTT), list, replace, delete, the master's
subtitle group and the published assets; every bad input a clear problem with nothing
written."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.support.captions.models import CaptionTrack
from apps.support.video.models import Video
from tests.integration.api.conftest import PUBLISHED_FILES, ApiHarness, assert_problem, publish

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


def ready_video(api: ApiHarness, **create) -> tuple[int, str]:
    """A READY video (signed, the default, unless `playback_policy` says otherwise)."""
    video = api.uploaded(**create)
    return video["id"], publish(api, video["id"], PUBLISHED_FILES)


def fetch(api: ApiHarness, url: str):
    """GET a URL the API handed out, as a player would: no API key, its query as given."""
    parts = urlsplit(url)
    response = api.client.get(parts.path, parse_qs(parts.query))
    response.body = b"".join(response.streaming_content) if response.streaming else response.content
    return response


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
    assert "?token=" in track["vtt_url"]  # signed by default: the URL carries its token
    vtt = fetch(api, track["vtt_url"])
    assert vtt.status_code == 200
    body = vtt.body.decode()
    assert body.startswith("WEBVTT") and "00:00:01.000 --> 00:00:03.500" in body

    text = master(api, prefix)
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en",NAME="English"' in text
    assert 'SUBTITLES="subs"' in text.splitlines()[-2]

    listed = api.get(f"/api/v1/videos/{video_id}/captions").json()["items"]
    assert [t["id"] for t in listed] == [track["id"]]
    published = api.get(f"/api/v1/videos/{video_id}/assets/published").json()
    # The same file, each URL with a token of its own (minted a second apart, they may differ).
    assert "?token=" in published["subtitle_url"]
    assert published["subtitle_url"].split("?")[0] == track["vtt_url"].split("?")[0]
    assert [c["id"] for c in published["captions"]] == [track["id"]]
    cues = api.use_cases.captions.captions.cues(track["id"])
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 3.5, "Welcome to the lecture."),
        (4.0, 7.0, "Today: vectors."),
    ]


def test_a_signed_videos_captions_play_through_the_master_with_its_token(api):
    video_id, _prefix = ready_video(api)
    upload(api, video_id, SRT)
    published = api.get(f"/api/v1/videos/{video_id}/assets/published").json()
    master_url = published["video_url"]
    assert published["playback_policy"] == "signed" and "?token=" in master_url
    served = fetch(api, master_url)
    assert served.status_code == 200
    # Rewritten in place when a track arrives: revalidated on every load, never kept stale.
    assert served["Cache-Control"] == "private, no-cache"
    token = parse_qs(urlsplit(master_url).query)["token"][0]
    subtitles = re.search(r'TYPE=SUBTITLES[^\n]*URI="([^"]+)"', served.body.decode()).group(1)
    assert subtitles.startswith("captions/") and subtitles.endswith(f"?token={token}")
    base = master_url.rsplit("/", 1)[0]
    playlist = fetch(api, f"{base}/{subtitles}")
    assert playlist.status_code == 200 and playlist["Cache-Control"] == "private, max-age=300"
    folder = subtitles.split("?")[0].rsplit("/", 1)[0]
    segments = [line for line in playlist.body.decode().splitlines() if line[:1] not in "#"]
    assert segments and all(line.endswith(f"?token={token}") for line in segments)
    cue = fetch(api, f"{base}/{folder}/{segments[0]}")
    assert cue.status_code == 200 and "Welcome to the lecture." in cue.body.decode()
    # Without the token, the captions are refused as the video's other files are.
    bare = fetch(api, published["subtitle_url"].split("?")[0])
    assert_problem(bare, 403, "PLAYBACK_DENIED")


def test_a_public_videos_caption_urls_carry_no_token_and_its_master_revalidates(api):
    video_id, _prefix = ready_video(api, playback_policy="public")
    track = upload(api, video_id, SRT).json()
    assert "token" not in track["vtt_url"] and "/media/" in track["vtt_url"]
    assert fetch(api, track["vtt_url"]).status_code == 200
    master_url = api.get(f"/api/v1/videos/{video_id}/assets/published").json()["video_url"]
    assert fetch(api, master_url)["Cache-Control"] == "public, no-cache"


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
    # The event keeps the track it is about, as the completion left it.
    stored = WebhookEvent.objects.get(video_id=video_id, type="video.captions.ready").track
    assert (stored["id"], stored["status"], stored["language"], stored["vtt_key"]) == (
        captions.get(video_id).id,
        "READY",
        "en",
        result.vtt_key,
    )
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


def test_reconcile_requests_the_track_a_dead_worker_never_asked_for_and_only_that(api):
    """The crash gap: the worker died between READY and asking for the automatic track."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.support.video.models import Video
    from src.application.caption_job import CaptionRequests
    from src.application.ports.fakes import InMemoryQueue

    gap, _ = ready_video(api)  # READY, no track asked for: as after a kill -9 there
    asked, _ = ready_video(api)
    deleted, _ = ready_video(api)
    old, _ = ready_video(api)
    captions = api.use_cases.captions.captions
    queue = InMemoryQueue()
    requests = CaptionRequests(captions, queue, language="en")
    assert requests.request(asked, api.tenant.id)
    assert requests.request(deleted, api.tenant.id)
    api.use_cases.captions.delete(api.tenant.id, deleted, captions.get(deleted).id)
    Video.objects.filter(pk=old).update(processing_completed_at=timezone.now() - timedelta(days=2))
    while queue.receive(0, 60) is not None:  # the two requests' own messages
        pass

    assert requests.request_unrequested(older_than_seconds=0) == [gap]
    track = captions.get(gap)
    assert track is not None and track.status == "QUEUED" and track.kind == "auto"
    message = queue.receive(0, 60)
    assert message is not None and json.loads(message.body)["video_id"] == gap
    assert requests.request_unrequested(older_than_seconds=0) == []  # asked once
    assert captions.get(deleted) is None and captions.get(old) is None
    # A video READY a moment ago is its own worker's to ask for.
    fresh, _ = ready_video(api)
    assert requests.request_unrequested(older_than_seconds=600) == []
    assert captions.get(fresh) is None


def _caption_job_on(api: ApiHarness, source: Path) -> tuple[int, object]:
    """A READY video whose source is `source`, its automatic track run by the real caption
    job (ffmpeg's audio decode, the bundled tiny.en model): the track afterwards."""
    from src.application.job_control import JobControl

    video = api.uploaded(source.read_bytes(), playback_policy="public")
    publish(api, video["id"], PUBLISHED_FILES)
    captions = api.services.captions_repository
    assert captions.request_auto(video["id"], "en") is not None
    lease = captions.claim_video(video["id"], "captions-test").lease
    steps: list[str] = []
    api.services.caption_video(lease, lambda _p, step: steps.append(step), JobControl())
    return video["id"], captions.get(video["id"])


# A still picture, one frame a second, stored cheaply (the job reads only the audio).
PICTURE = ("-c:v", "libx264", "-preset", "ultrafast", "-g", "600", "-pix_fmt", "yuv420p")


def _lavfi(path: Path, *args: str) -> Path:
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", *args, "-y", str(path)], check=True, timeout=120)
    return path


@pytest.mark.slow
def test_a_two_hour_silent_video_is_skipped_with_no_speech_without_running_whisper(api, tmp_path):
    # Two hours of silence cost little to make and to hold: FLAC packs it into about 2 MB
    # (ffmpeg writes it in about 3 s), and the job's silence check answers from the decoded
    # WAV alone: the model is never loaded, Whisper never runs over the two hours.
    source = _lavfi(
        tmp_path / "silent.mkv",
        *("-f", "lavfi", "-i", "color=c=black:s=64x64:r=1"),
        *("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "7200", *PICTURE, "-c:a", "flac"),
    )
    transcriber = api.services.transcriber
    video_id, track = _caption_job_on(api, source)
    assert track.status == "SKIPPED" and track.error_code == "NO_SPEECH"
    assert "no speech" in track.error_message
    assert transcriber._model is None  # the model was not needed
    assert (
        "SUBTITLES" not in (api.storage_root / Video.objects.get(pk=video_id).hls_key).read_text()
    )


@pytest.mark.slow
def test_a_music_only_video_is_skipped_with_no_speech(api, tmp_path):
    # 20 s of a tune (a stepped melody over a pulsing fifth): Whisper's voice filter hears no
    # speech in it, so no words are invented.
    tune = (
        "aevalsrc=0.3*sin(2*PI*(220+55*floor(mod(t*2\\,4)))*t)"
        "+0.2*sin(2*PI*330*t)*gt(mod(t\\,0.5)\\,0.25):s=16000:d=20"
    )
    source = _lavfi(
        tmp_path / "music.mkv",
        *("-f", "lavfi", "-i", "color=c=black:s=64x64:r=1"),
        *("-f", "lavfi", "-i", tune, "-t", "20", *PICTURE, "-c:a", "flac"),
    )
    _video_id, track = _caption_job_on(api, source)
    assert track.status == "SKIPPED" and track.error_code == "NO_SPEECH"


def test_a_video_without_audio_is_skipped_with_no_audio(api, tmp_path):
    source = _lavfi(
        tmp_path / "picture.mkv",
        *("-f", "lavfi", "-i", "color=c=gray:s=64x64:r=5:d=2", *PICTURE),
    )
    _video_id, track = _caption_job_on(api, source)
    assert track.status == "SKIPPED" and track.error_code == "NO_AUDIO"


class _LazySrtForm:
    """A multipart form holding a `size`-byte SRT file, produced as the server reads it: a
    50 MB upload is sent for real without ever being held in memory."""

    BOUNDARY = "academy-lazy-srt"
    CUE = b"1\n00:00:01,000 --> 00:00:02,000\nA line of a long caption file.\n\n"

    def __init__(self, size: int) -> None:
        b = self.BOUNDARY
        self.head = (
            f'--{b}\r\nContent-Disposition: form-data; name="language"\r\n\r\nen\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="big.srt"\r\n'
            "Content-Type: application/x-subrip\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{b}--\r\n".encode()
        self.size = size
        self.total = len(self.head) + size + len(self.tail)
        self.position = 0

    def _byte_range(self, start: int, end: int) -> bytes:
        out = bytearray()
        head, body_end = len(self.head), len(self.head) + self.size
        while start < end:
            if start < head:
                piece = self.head[start : min(end, head)]
            elif start < body_end:
                offset = (start - head) % len(self.CUE)
                piece = self.CUE[offset : offset + min(end, body_end) - start]
            else:
                piece = self.tail[start - body_end : end - body_end]
            out += piece
            start += len(piece)
        return bytes(out)

    def read(self, size: int = -1) -> bytes:
        end = self.total if size is None or size < 0 else min(self.total, self.position + size)
        data = self._byte_range(self.position, end)
        self.position = end
        return data

    def readline(self, size: int = -1) -> bytes:
        end = self.total if size is None or size < 0 else min(self.total, self.position + size)
        out = bytearray()
        while self.position < end:
            chunk = self._byte_range(self.position, min(end, self.position + 4096))
            newline = chunk.find(b"\n")
            if newline >= 0:
                chunk = chunk[: newline + 1]
            out += chunk
            self.position += len(chunk)
            if newline >= 0:
                break
        return bytes(out)


def test_a_50_mb_srt_is_a_413_at_the_default_limit_and_stores_nothing(api):
    video_id, prefix = ready_video(api)
    limit = api.use_cases.config.captions.max_upload_bytes
    assert limit == 2 * 1024**2  # the default VIDEO_CAPTIONS_MAX_UPLOAD_BYTES
    form = _LazySrtForm(50 * 1024**2)
    response = api.client.generic(
        "POST",
        f"/api/v1/videos/{video_id}/captions",
        headers=api.headers(),
        **{
            "CONTENT_TYPE": f"multipart/form-data; boundary={form.BOUNDARY}",
            "CONTENT_LENGTH": str(form.total),
            "wsgi.input": form,
        },
    )
    body = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert "VIDEO_CAPTIONS_MAX_UPLOAD_BYTES" in body["detail"]
    assert form.position < limit + 1024**2  # refused at the limit: the rest never read
    assert stored(api, prefix) == set()
    assert not CaptionTrack.objects.filter(video_id=video_id).exists()
