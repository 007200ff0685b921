"""Automatic captions end to end: a video worker, a caption worker (`--jobs captions`, the real
tiny.en model) and reconcile over moto's SQS, PostgreSQL, Redis and local storage.

The lecture's audio is espeak-ng reading a known script: its automatic track must come READY
after the video, read back within the word error rate goal, and be listed by the master. A
caption worker killed with SIGKILL mid-job loses the track to another through reconcile, and
one track results.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path

import pytest

from apps.support.captions.models import CaptionTrack
from apps.support.video.models import Tenant, Video
from bench.harness import wait_until
from bench.spoken_lecture import SCRIPTS, spoken_lecture, word_error_rate
from tests.e2e.harness import worker_args

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCRIPT = SCRIPTS["linear-algebra"]
# The goal for the default model on a clear speaker.
MAX_WER = 0.2
LEASE_SECONDS = 4
HEARTBEAT_TTL = 3
RECONCILE = [sys.executable, "manage.py", "reconcile_video_processing", "--loop", "1"]
CAPTIONS_WORKER = worker_args(None, "--jobs", "captions")


@pytest.fixture(scope="module")
def lecture(tmp_path_factory) -> Path:
    return spoken_lecture(tmp_path_factory.mktemp("spoken") / "lecture.mp4", SCRIPT)


@pytest.fixture
def tenant(transactional_db):
    n = random.randrange(10**6, 10**9)  # Redis keys carry it; other runs share Redis
    return Tenant.objects.create(pk=n, slug=f"captions-{n}", name="Captions Academy")


def env(**extra) -> dict[str, object]:
    return {
        "VIDEO_LEASE_SECONDS": LEASE_SECONDS,
        "VIDEO_HEARTBEAT_TTL": HEARTBEAT_TTL,
        "VIDEO_SHUTDOWN_GRACE_SECONDS": 2,
        **extra,
    }


def auto_track(video: Video) -> CaptionTrack | None:
    return CaptionTrack.objects.filter(video=video, kind="auto").first()


def read_stored(storage_root: Path, key: str) -> str:
    return (storage_root / key).read_text(encoding="utf-8")


def test_spoken_lecture_gets_an_automatic_track_after_ready_within_the_wer_goal(
    spawn, sqs, make_video, storage_root, lecture
):
    video = make_video(lecture)
    spawn("worker", worker_args(None), **env())
    captions = spawn("captions", CAPTIONS_WORKER, **env())
    sqs.send(video.pk, video.tenant_id)

    track = wait_until(
        lambda: (t := auto_track(video)) and t.status == "READY" and t,
        180,
        what="the automatic track to be READY",
    )
    video.refresh_from_db()
    assert video.status == "READY"
    assert track.ready_at >= video.processing_completed_at  # captions come after the ladder
    assert track.language == "en" and track.cue_count > 0

    vtt = read_stored(storage_root, track.vtt_key)
    assert vtt.startswith("WEBVTT")
    spoken = " ".join(c["text"] for c in track.cues)
    wer = word_error_rate(SCRIPT, spoken)
    assert wer <= MAX_WER, f"WER {wer:.3f} > {MAX_WER}: {spoken!r}"

    master = read_stored(storage_root, video.hls_key)
    media = [line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    assert len(media) == 1
    assert 'LANGUAGE="en"' in media[0] and "DEFAULT=NO,AUTOSELECT=YES" in media[0]
    variants = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert variants and all('SUBTITLES="subs"' in v for v in variants)
    playlist = read_stored(storage_root, track.playlist_key)
    assert "#EXT-X-ENDLIST" in playlist
    first_segment = Path(track.playlist_key).parent / next(
        line for line in playlist.splitlines() if line and not line.startswith("#")
    )
    assert read_stored(storage_root, str(first_segment)).startswith("WEBVTT\nX-TIMESTAMP-MAP=")

    done = captions.wait_event("SQS_JOB_COMPLETED", timeout=30, video_id=video.pk)
    assert done["job"] == "captions"
    assert captions.events("CAPTIONS_TRANSCRIBED")[0]["realtime_factor"] > 1
    assert not captions.problems()


def test_caption_worker_killed_mid_job_hands_the_track_to_another(
    spawn, sqs, make_video, storage_root, lecture
):
    video = make_video(lecture)
    spawn("worker", worker_args(None), **env())
    victim = spawn("captions-1", CAPTIONS_WORKER, **env())
    sqs.send(video.pk, video.tenant_id)
    victim.wait_event("VIDEO_CLAIMED", timeout=180, video_id=video.pk)
    # Killed with its lease held: the track is PROCESSING under this worker's claim.
    os.killpg(victim.pid, signal.SIGKILL)
    track = auto_track(video)
    assert track.status == "PROCESSING" and track.lease_token == 1

    spawn("reconcile", RECONCILE, **env())
    survivor = spawn("captions-2", CAPTIONS_WORKER, **env())
    survivor.wait_event("SQS_JOB_COMPLETED", timeout=180, video_id=video.pk)

    tracks = list(CaptionTrack.objects.filter(video=video))
    assert len(tracks) == 1
    assert tracks[0].status == "READY" and tracks[0].lease_token == 2
    video.refresh_from_db()
    master = read_stored(storage_root, video.hls_key)
    assert master.count("#EXT-X-MEDIA:TYPE=SUBTITLES") == 1
    assert f"auto-{tracks[0].lease_token}/" in master


def test_hls_js_in_chromium_lists_the_track_and_shows_a_cue_while_playing(spawn, lecture):
    from tests.e2e.browser import chromium, sign_in, upload, wait_js, watch_console
    from tests.e2e.test_api_pipeline import Client, create_key, serve

    _web, base = serve(spawn)
    spawn("worker", worker_args(None), **env())
    spawn("captions", CAPTIONS_WORKER, **env())
    key = create_key(spawn, "academy-captions")
    client = Client(base, key)

    def auto_ready(video_id: int) -> bool:  # through the API: the browser's loop owns the thread
        status, body = client.json("GET", f"/api/v1/videos/{video_id}/captions")
        assert status == 200, body
        return any(t["kind"] == "auto" and t["status"] == "READY" for t in body["items"])

    with chromium() as browser:
        page = browser.new_page()
        problems = watch_console(page)
        sign_in(page, base, key)
        upload(page, base, lecture, "Linear algebra, week 1")
        page.wait_for_url(f"{base}/videos/*")
        video_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
        wait_until(lambda: auto_ready(video_id), 240, what="the automatic track to be READY")
        page.reload()  # a player that loads the master after READY gets the track
        assert "en" in page.locator("#captions-body").inner_text()
        wait_js(page, "() => Number(document.getElementById('captions-menu').dataset.tracks) === 1")
        page.select_option("#captions-menu", "0")
        wait_js(page, "() => document.getElementById('player').readyState >= 1")
        page.locator("video#player").click()
        shown = wait_js(
            page,
            """() => {
                const tracks = [...document.getElementById('player').textTracks];
                const on = tracks.find((t) => t.mode === 'showing');
                const cues = on && on.activeCues ? [...on.activeCues] : [];
                return cues.length ? cues.map((c) => c.text).join(' ') : null;
            }""",
            timeout=90,
        )
        assert any(w in shown.lower() for w in SCRIPT.lower().split()), shown
        assert not problems, problems


def test_a_caption_worker_without_a_loadable_model_refuses_to_start(spawn, tmp_path):
    worker = spawn("captions", CAPTIONS_WORKER, VIDEO_CAPTIONS_MODEL=str(tmp_path / "no-model"))
    assert worker.wait(60) == 1
    lines = worker.err_path.read_text().strip().splitlines()
    assert len(lines) == 1 and "VIDEO_CAPTIONS_MODEL" in lines[0], lines
    assert not worker.events("WORKER_STARTED")
