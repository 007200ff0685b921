"""Live caption events on the real PostgreSQL and Redis: a READY video whose automatic caption
track is to come keeps its stream open after `ready` (`more`), sends `captions` at each track
change and `captions_progress` as the caption worker publishes it, and ends after the
`captions` message that no longer says `more`."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from apps.api.live.service import run_blocking
from src.application.caption_job import caption_prefix
from src.application.domain import Cue
from src.application.ports.captions import CaptionResult
from src.infrastructure.cache.redis_keys import CAPTIONS_JOB
from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client
from tests.integration.live.conftest import LiveHarness
from tests.integration.live.test_live_sse import SseClient

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

CAPTION_WORKER = "live-caption-worker"


def captions_on(live: LiveHarness) -> None:
    config = live.services.config
    live.rebuild(captions=dataclasses.replace(config.captions, enabled=True))


def ready_video(live: LiveHarness) -> int:
    vid = live.video()
    assert live.complete(live.claim(vid))
    return vid


def test_sse_follows_the_automatic_track_after_ready_until_it_is_done(live: LiveHarness):
    captions_on(live)
    vid = ready_video(live)
    hls_key = live.repository.get(vid).hls_key
    tracks = live.services.captions_repository
    track = tracks.request_auto(vid, "en")
    caption_progress = RedisProgressAdapter(
        redis_client(live.redis_url),
        events_prefix=live.services.config.live_channel_prefix,
        job=CAPTIONS_JOB,
    )

    async def scenario():
        sse = SseClient(f"/api/v1/videos/{vid}/events?token={live.token(vid)}")
        await sse.start()
        seen = [await sse.event() for _ in range(3)]  # connected, ready, captions
        lease = (await run_blocking(lambda: tracks.claim_video(vid, CAPTION_WORKER))).lease
        seen.append(await sse.event())  # captions: PROCESSING
        await asyncio.to_thread(
            caption_progress.record_progress, live.tenant.id, vid, 42.0, "transcribe", "w"
        )
        seen.append(await sse.event())  # captions_progress
        key = caption_prefix(hls_key, "auto-1")
        result = CaptionResult(
            "en", "", f"{key}/captions.vtt", f"{key}/index.m3u8", [Cue(0.0, 1.0, "Hello.")]
        )
        assert await run_blocking(lambda: tracks.complete(lease, result))
        seen.append(await sse.event())  # captions: READY, the last
        rest = await sse.body()
        return seen, rest, sse

    seen, rest, sse = asyncio.run(scenario())
    types = [name for name, _ in seen]
    assert types == ["connected", "ready", "captions", "captions", "captions_progress", "captions"]
    ready, first, claimed, progress, done = (body for _, body in seen[1:])
    assert ready["more"] is True
    assert first["more"] is True and [t["status"] for t in first["captions"]] == ["QUEUED"]
    assert [t["status"] for t in claimed["captions"]] == ["PROCESSING"]
    assert progress["percent"] == 42.0 and progress["step"] == "transcribe"
    assert done["more"] is False
    (listed,) = done["captions"]
    assert listed["id"] == track.id and listed["status"] == "READY" and listed["kind"] == "auto"
    assert (
        f"/media/{live.repository.get(vid).playback_id}/captions/auto-1/captions.vtt?token="
        in (listed["vtt_url"])
    )
    assert rest == "" and sse.ended, "the stream ends after the track is done"


def test_a_ready_video_whose_track_is_done_ends_at_ready(live: LiveHarness):
    captions_on(live)
    vid = ready_video(live)
    tracks = live.services.captions_repository
    tracks.request_auto(vid, "en")
    lease = tracks.claim_video(vid, CAPTION_WORKER).lease
    from src.application.domain import ErrorCode

    assert tracks.skip(lease, ErrorCode.NO_SPEECH, "no speech was heard in the audio")

    async def scenario():
        sse = SseClient(f"/api/v1/videos/{vid}/events?token={live.token(vid)}")
        await sse.start()
        return await sse.body()

    body = asyncio.run(scenario())
    assert "event: ready\n" in body and '"more":false' in body
    assert "event: captions" not in body
