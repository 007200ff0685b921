"""The worker as a real process: SQS through moto's server, PostgreSQL, Redis, local storage."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest
import redis

from apps.support.video.models import Video
from bench.harness import wait_until
from tests.e2e.harness import TEST_REDIS_URL, SqsFixture, worker_args

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def status_of(video) -> str:
    return Video.objects.values_list("status", flat=True).get(pk=video.pk)


@pytest.mark.parametrize("fast_ack", ["0", "1"])
def test_fast_ack_modes_log_and_empty_the_queue(sqs, spawn, make_video, fast_ack):
    videos = [make_video() for _ in range(3)]
    for v in videos:
        sqs.send(v.id, v.tenant_id)
    worker = spawn(
        "worker",
        worker_args(0.2, "--exit-when-idle", "3"),
        VIDEO_FAST_ACK=fast_ack,
        FAKE_TRANSCODE_SECONDS="0.2",
    )
    assert worker.wait(60) == 0, worker.tail()
    assert [status_of(v) for v in videos] == ["READY"] * 3
    applied = worker.events("VIDEO_FAST_ACK_APPLIED")
    skipped = worker.events("VIDEO_FAST_ACK_SKIPPED")
    if fast_ack == "1":
        assert len(applied) == 3 and not skipped
        assert all(len(e["receipt_handle_suffix"]) == 12 for e in applied)
    else:
        assert len(skipped) == 3 and not applied
        assert {e["reason"] for e in skipped} == {"VIDEO_FAST_ACK=0"}
    assert len(worker.events("SQS_JOB_COMPLETED")) == 3
    assert sqs.counts() == (0, 0, 0)
    started = worker.events("WORKER_STARTED")[0]
    assert started["fast_ack"] is (fast_ack == "1")
    assert "postgres://" not in worker.path.read_text()
    assert worker.problems() == []


def test_visibility_extension_keeps_message_hidden_past_queue_timeout(
    moto_endpoint, spawn, make_video
):
    sqs = SqsFixture(moto_endpoint, visibility_timeout=2)
    video = make_video()
    sqs.send(video.id, video.tenant_id)
    worker = spawn(
        "worker",
        worker_args(7, "--max-messages", "1"),
        sqs=sqs,
        VIDEO_VISIBILITY_TIMEOUT="2",
        FAKE_TRANSCODE_SECONDS="7",
    )
    worker.wait_event("VIDEO_CLAIMED", timeout=30)
    stolen = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and worker.proc.poll() is None:
        stolen += sqs.receive_now()
        time.sleep(0.3)
    assert stolen == [], "message reappeared while its job ran (visibility not extended)"
    assert worker.wait(30) == 0, worker.tail()
    assert status_of(video) == "READY"
    assert sqs.counts() == (0, 0, 0)
    assert len(worker.events("VIDEO_CLAIMED")) == 1


def test_many_duplicates_four_workers_each_video_processed_once(sqs, spawn, make_video):
    videos = [make_video() for _ in range(50)]
    for _ in range(4):
        for v in videos:
            sqs.send(v.id, v.tenant_id)
    workers = [
        spawn(
            f"worker-{i}", worker_args(0.05, "--exit-when-idle", "4"), FAKE_TRANSCODE_SECONDS="0.05"
        )
        for i in range(4)
    ]
    for w in workers:
        assert w.wait(180) == 0, w.tail()
    rows = {v.pk: v for v in Video.objects.filter(pk__in=[v.pk for v in videos])}
    assert {r.status for r in rows.values()} == {"READY"}
    assert {(r.attempts, r.lease_token) for r in rows.values()} == {(1, 1)}
    claims = Counter(e["video_id"] for w in workers for e in w.events("VIDEO_CLAIMED"))
    assert sorted(claims) == sorted(rows) and set(claims.values()) == {1}
    results = Counter(e["result"] for w in workers for e in w.events("handler.handle() returned"))
    # Exactly one job per video; every other delivery is a skip. Under load a message may
    # outlive its visibility timeout and be delivered once more: that is one more skip, not a
    # second job, so the skips are counted from below.
    assert results["ok"] == 50 and results["skip:claimed"] >= 150
    assert set(results) == {"ok", "skip:claimed"}
    assert sqs.counts() == (0, 0, 0)
    for w in workers:
        assert w.problems() == [], w.name


def test_bad_messages_are_rejected_deleted_and_worker_keeps_going(sqs, spawn, make_video, tenant):
    good = make_video()
    sqs.send(None, None, body="{this is not json")
    sqs.send(999_999_999, tenant.id)
    sqs.send(good.id, tenant.id + 1000)
    sqs.send(None, None, body=json.dumps({"video_id": -3, "tenant_id": "x"}))
    # Before: json.loads raised RecursionError, which escaped before SQS_MESSAGE_RECEIVED: a
    # traceback at every receive, never deleted, and the worker-wide backoff grew to 30 s.
    sqs.send(None, None, body="[" * 2000 + "]" * 2000)
    # Before: accepted, then the database lookup failed (bigint out of range), as above.
    sqs.send(None, None, body=json.dumps({"video_id": 2**64, "tenant_id": tenant.id}))
    sqs.send(good.id, tenant.id)
    worker = spawn(
        "worker", worker_args(0.1, "--exit-when-idle", "3"), FAKE_TRANSCODE_SECONDS="0.1"
    )
    assert worker.wait(60) == 0, worker.tail()
    reasons = sorted(e["reason"] for e in worker.events("SQS_MESSAGE_REJECTED"))
    assert reasons == [
        "body is nested too deeply to be a job",
        "body is not valid JSON",
        "no such video",
        "video does not belong to tenant",
        "video_id must be a positive integer (at most 9223372036854775807)",
        "video_id must be a positive integer (at most 9223372036854775807)",
    ]
    assert status_of(good) == "READY"
    assert sqs.counts() == (0, 0, 0)  # every bad one deleted at its first receive
    assert not worker.events("WORKER_LOOP_ERROR")  # so no backoff slowed the good one
    assert {e["receive_count"] for e in worker.events("SQS_MESSAGE_RECEIVED")} == {1}
    assert worker.problems() == []


def test_sigterm_during_long_poll_exits_promptly_and_loses_nothing(sqs, spawn, make_video):
    worker = spawn("worker", worker_args(0.1), FAKE_TRANSCODE_SECONDS="0.1")
    worker.wait_event("WORKER_STARTED")
    time.sleep(1.5)  # inside the 20 s long poll
    worker.signal(signal.SIGTERM)
    worker.wait_event("WORKER_STOPPING", timeout=2)
    # A message that arrives now is answered to the poll SQS still holds open for us:
    # the worker must hand it back at once rather than sit on it or process it.
    video = make_video()
    sqs.send(video.id, video.tenant_id)
    got = wait_until(lambda: sqs.receive_now(wait=1), 8, what="the new message")
    assert json.loads(got[0]["Body"])["video_id"] == video.id
    assert worker.wait(30) == 0, worker.tail()
    assert worker.events("WORKER_SHUTDOWN")
    assert not worker.events("VIDEO_CLAIMED")
    video.refresh_from_db()
    assert video.status == "UPLOADED"


def test_second_signal_skips_waiting_for_the_open_poll(sqs, spawn):
    worker = spawn("worker", worker_args(0.1), FAKE_TRANSCODE_SECONDS="0.1")
    worker.wait_event("WORKER_STARTED")
    time.sleep(1)
    t = time.monotonic()
    worker.signal(signal.SIGTERM)
    worker.wait_event("WORKER_STOPPING", timeout=2)
    worker.signal(signal.SIGINT)
    assert worker.wait(10) == 0, worker.tail()
    assert time.monotonic() - t < 4


@pytest.mark.parametrize("fast_ack", ["0", "1"])
def test_sigterm_during_job_within_grace_finishes_it(sqs, spawn, make_video, fast_ack):
    video = make_video()
    sqs.send(video.id, video.tenant_id)
    worker = spawn(
        "worker",
        worker_args(2.5),
        FAKE_TRANSCODE_SECONDS="2.5",
        VIDEO_SHUTDOWN_GRACE_SECONDS="25",
        VIDEO_FAST_ACK=fast_ack,
    )
    worker.wait_event("VIDEO_CLAIMED")
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.tail()
    assert status_of(video) == "READY"
    assert sqs.counts() == (0, 0, 0)


@pytest.mark.parametrize("fast_ack", ["0", "1"])
def test_sigterm_past_grace_releases_video_and_message_returns_at_once(
    sqs, spawn, make_video, fast_ack
):
    video = make_video()
    sqs.send(video.id, video.tenant_id)
    worker = spawn(
        "worker",
        worker_args(60),
        FAKE_TRANSCODE_SECONDS="60",
        VIDEO_SHUTDOWN_GRACE_SECONDS="1",
        VIDEO_FAST_ACK=fast_ack,
    )
    worker.wait_event("VIDEO_CLAIMED")
    t = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.tail()
    assert time.monotonic() - t < 5
    video.refresh_from_db()
    assert (video.status, video.attempts, video.leased_by) == ("UPLOADED", 0, "")
    returned = wait_until(lambda: sqs.receive_now(wait=1), 5, what="the message back")
    assert json.loads(returned[0]["Body"])["video_id"] == video.id
    assert worker.events("WORKER_SHUTDOWN")


def test_lease_lost_mid_job_stops_worker_writes_nothing(sqs, spawn, make_video, storage_root):
    from academy.adapters.db.django.repositories_video import DjangoVideoRepository

    video = make_video()
    sqs.send(video.id, video.tenant_id)
    worker = spawn(
        "worker",
        worker_args(20, "--max-messages", "1"),
        FAKE_TRANSCODE_SECONDS="20",
        VIDEO_HEARTBEAT_TTL="1",
        VIDEO_LEASE_SECONDS="1",
    )
    worker.wait_event("VIDEO_CLAIMED")
    repo = DjangoVideoRepository()
    # Expire the lease under the worker: stop its renewals by reclaiming by force, as an
    # operator would, then let another worker take the video.
    assert repo.try_reclaim_video(video.pk, force=True)
    thief = repo.try_claim_video(video.pk, "worker-b", 300)
    assert thief is not None
    event = worker.wait_event("VIDEO_LEASE_LOST", timeout=10)
    assert event["video_id"] == video.pk
    assert worker.wait(15) == 0
    video.refresh_from_db()
    assert (video.status, video.leased_by, video.hls_key) == ("PROCESSING", "worker-b", "")
    assert not list((storage_root / f"tenants/{video.tenant_id}/videos/{video.pk}").glob("hls/*"))


def test_heartbeat_and_progress_keys_have_contract_ttls(sqs, spawn, make_video):
    video = make_video()
    sqs.send(video.id, video.tenant_id)
    worker = spawn(
        "worker",
        worker_args(6, "--max-messages", "1"),
        FAKE_TRANSCODE_SECONDS="6",
        VIDEO_HEARTBEAT_TTL="9",
    )
    worker.wait_event("VIDEO_CLAIMED")
    r = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    hb = f"tenant:{video.tenant_id}:video:{video.pk}:heartbeat"
    progress = f"tenant:{video.tenant_id}:video:{video.pk}:progress"
    wait_until(lambda: r.exists(progress), 5, what="progress key")
    assert r.get(hb) == worker.events("WORKER_STARTED")[0]["worker_id"]
    assert 0 < r.ttl(hb) <= 9
    assert 3500 < r.ttl(progress) <= 3600
    record = json.loads(r.get(progress))
    assert set(record) >= {"percent", "step", "worker_id", "updated_at"}
    assert 0 <= record["percent"] <= 100
    # Refreshed at least every TTL/3 = 3 s (each progress write refreshes it too): watch it
    # run down, then come back up.
    aged = wait_until(lambda: 0 < (left := r.pttl(hb)) < 8700 and left, 9, interval=0.05)
    wait_until(lambda: r.pttl(hb) > aged + 200, 4, interval=0.05, what="a heartbeat refresh")
    assert worker.wait(30) == 0
    assert not r.exists(hb), "heartbeat must go when the job ends"
    assert json.loads(r.get(progress))["percent"] == 100


def test_a_200000_character_trace_id_never_floods_the_log(sqs, spawn, make_video):
    # Before: every line of the job carried the whole attribute, 800 KB of log for one message.
    video = make_video()
    huge = "t" * 200_000
    for body in (json.dumps({"video_id": video.id, "tenant_id": video.tenant_id}), "{not json"):
        sqs.client.send_message(
            QueueUrl=sqs.url,
            MessageBody=body,
            MessageAttributes={"trace_id": {"DataType": "String", "StringValue": huge}},
        )
    worker = spawn("worker", worker_args(0.1, "--max-messages", "2"), FAKE_TRANSCODE_SECONDS="0.1")
    assert worker.wait(60) == 0, worker.tail()
    assert status_of(video) == "READY"
    assert len(worker.events("SQS_MESSAGE_REJECTED")) == 1
    traced = [e["trace_id"] for e in worker.lines() if "trace_id" in e]
    assert len(traced) >= 8 and set(traced) == {"t" * 128}
    assert worker.path.stat().st_size < 40_000
