"""The reconcile use case on fakes: which videos it reclaims and re-sends, and which it leaves."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from academy.bootstrap import bootstrap
from src.application import reconcile as rc
from src.application.domain import Lease, VideoStatus
from src.application.ports.fakes import (
    InMemoryProgress,
    InMemoryQueue,
    InMemoryStorage,
    InMemoryUnitOfWork,
)
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from tests.dev_config import dev_config

TENANT = 7
LEASE = 120
GRACE = 20.0
REENQUEUE_AFTER = 600


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FlakyQueue(InMemoryQueue):
    """SQS that can be switched off; counts the sends it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.attempts = 0

    def send(self, video_id, tenant_id, request_id, trace_id=None, delay_seconds=0) -> str:
        self.attempts += 1
        if self.down:
            raise ConnectionError("Could not connect to the endpoint URL")
        return super().send(video_id, tenant_id, request_id, trace_id, delay_seconds)


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.repo = InMemoryVideoRepository(default_lease_seconds=LEASE, clock=self.clock)
        self.queue = FlakyQueue()
        self.progress = InMemoryProgress()
        self.storage = InMemoryStorage()

    def reconciler(self, limit: int = 100) -> rc.Reconciler:
        """The Reconciler as the command gets it from the composition root."""
        config = dev_config(
            {
                "VIDEO_HEARTBEAT_TTL": str(int(GRACE * 3)),  # the grace is one beat interval
                "VIDEO_REENQUEUE_AFTER_SECONDS": str(REENQUEUE_AFTER),
                "VIDEO_LEASE_SECONDS": str(LEASE),
            }
        )
        services = bootstrap(
            config,
            unit_of_work=InMemoryUnitOfWork(self.repo),
            queue=self.queue,
            progress=self.progress,
            storage=self.storage,
        )
        reconciler = services.reconciler(limit=limit)
        assert reconciler.heartbeat_grace_seconds == GRACE
        return reconciler

    def claimed(self, worker: str = "worker-a", heartbeat: bool = True) -> int:
        video_id = self.repo.create_video(TENANT, source_key="src")
        assert self.repo.try_claim_video(video_id, worker) is not None
        if heartbeat:
            self.progress.set_heartbeat(TENANT, video_id, worker)
        return video_id

    def status(self, video_id: int) -> VideoStatus:
        return self.repo.get(video_id).status

    def sent_ids(self) -> list[int]:
        return [m["video_id"] for m in self.queue.messages()]


@pytest.fixture
def world() -> World:
    return World()


def lease_of(world: World, video_id: int) -> Lease:
    row = world.repo.get(video_id)
    return Lease(
        video_id, row.tenant_id, row.leased_by, row.lease_token, row.leased_until, row.attempts
    )


def test_expired_lease_is_reclaimed_and_reenqueued_once(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(LEASE + 1)
    report = world.reconciler().run_once()
    assert report.reclaimed == [video_id] and report.reenqueued == [video_id]
    row = world.repo.get(video_id)
    assert (row.status, row.leased_by, row.leased_until) == (VideoStatus.UPLOADED, "", None)
    [message] = world.queue.messages()
    assert (message["video_id"], message["tenant_id"]) == (video_id, TENANT)
    assert uuid.UUID(message["request_id"]).version == 4
    reclaimed = [a for a in report.actions if a.action == "reclaimed"]
    assert [(a.reason, a.leased_by, a.lease_token) for a in reclaimed] == [
        (rc.LEASE_EXPIRED, "worker-a", 1)
    ]
    assert report.ok and report.redis_available
    again = world.reconciler().run_once()
    assert again.reclaimed == [] and again.reenqueued == [] and len(world.queue.messages()) == 1


def test_expired_lease_is_reclaimed_even_with_a_heartbeat(world):
    # A heartbeat can outlive a lease when TTL > lease; the lease is the contract.
    video_id = world.claimed(heartbeat=True)
    world.clock.advance(LEASE + 1)
    assert world.reconciler().run_once().reclaimed == [video_id]


def test_live_lease_with_heartbeat_is_left_alone(world):
    video_id = world.claimed()
    world.clock.advance(GRACE + 30)
    report = world.reconciler().run_once()
    assert report.reclaimed == [] and world.queue.messages() == []
    assert report.skipped == [{"video_id": video_id, "reason": rc.HEARTBEAT_ALIVE}]
    assert world.status(video_id) == VideoStatus.PROCESSING


def test_live_lease_without_heartbeat_past_grace_is_reclaimed(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(GRACE + 1)
    report = world.reconciler().run_once()
    assert report.reclaimed == [video_id] and world.sent_ids() == [video_id]
    assert [a.reason for a in report.actions if a.action == "reclaimed"] == [rc.HEARTBEAT_MISSING]
    assert world.status(video_id) == VideoStatus.UPLOADED


def test_fresh_claim_whose_first_heartbeat_has_not_landed_is_not_reclaimed(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(GRACE - 1)
    report = world.reconciler().run_once()
    assert report.skipped == [{"video_id": video_id, "reason": rc.HEARTBEAT_GRACE}]
    assert world.status(video_id) == VideoStatus.PROCESSING and world.queue.messages() == []


def test_grace_is_one_heartbeat_interval_but_never_below_the_minimum():
    assert rc.heartbeat_grace(20.0) == 20.0
    assert rc.heartbeat_grace(1.0) == rc.MIN_HEARTBEAT_GRACE_SECONDS


def test_redis_down_is_not_a_missing_heartbeat(world):
    alive = world.claimed(heartbeat=False)
    dead = world.claimed("worker-b", heartbeat=False)
    world.clock.advance(LEASE + 1)
    assert world.repo.renew_lease(lease_of(world, alive), LEASE)  # only `dead`'s lease expired
    world.progress.available = False
    report = world.reconciler().run_once()
    assert report.reclaimed == [dead] and world.sent_ids() == [dead]
    assert report.skipped == [{"video_id": alive, "reason": rc.LEASE_LIVE_REDIS_DOWN}]
    assert report.redis_available is False
    assert report.notes == [rc.REDIS_DOWN_NOTE]
    assert world.status(alive) == VideoStatus.PROCESSING
    assert report.to_dict()["redis_available"] is False


class SequencedProgress(InMemoryProgress):
    """has_heartbeat answers from a script, and can run a side effect on a given call."""

    def __init__(
        self, answers: list[bool], on_call: dict[int, Callable[[], object]] | None = None
    ) -> None:
        super().__init__()
        self.answers = list(answers)
        self.on_call = on_call or {}
        self.calls = 0

    def has_heartbeat(self, tenant_id, video_id) -> bool:
        self.calls += 1
        if self.calls in self.on_call:
            self.on_call[self.calls]()
        return self.answers.pop(0)


def test_heartbeat_that_comes_back_before_the_forced_update_saves_the_job(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(GRACE + 1)
    world.progress = SequencedProgress([False, True])
    report = world.reconciler().run_once()
    assert report.skipped == [{"video_id": video_id, "reason": rc.HEARTBEAT_RETURNED}]
    assert world.status(video_id) == VideoStatus.PROCESSING and world.queue.messages() == []


def test_forced_reclaim_is_fenced_on_the_claim_that_was_looked_at(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(GRACE + 1)

    def replaced_by_another_worker():
        # Between the listing and the update the job was handed back and claimed again.
        assert world.repo.release(lease_of(world, video_id))
        assert world.repo.try_claim_video(video_id, "worker-b") is not None

    world.progress = SequencedProgress([False, False], on_call={2: replaced_by_another_worker})
    report = world.reconciler().run_once()
    assert report.skipped == [{"video_id": video_id, "reason": rc.NOT_RECLAIMABLE}]
    row = world.repo.get(video_id)
    assert (row.status, row.leased_by, row.lease_token) == (VideoStatus.PROCESSING, "worker-b", 2)
    assert world.queue.messages() == []


def test_dry_run_changes_nothing_and_says_what_it_would_do(world):
    expired = world.claimed(heartbeat=False)
    world.clock.advance(LEASE + 1)
    silent = world.claimed("worker-b", heartbeat=False)
    stale = world.repo.create_video(TENANT)
    world.clock.advance(REENQUEUE_AFTER + 1)
    world.repo.renew_lease(lease_of(world, silent), LEASE)
    before = {v: world.repo.get(v) for v in (expired, silent, stale)}
    report = world.reconciler().run_once(dry_run=True)
    assert {v: world.repo.get(v) for v in before} == before
    assert world.queue.attempts == 0
    assert report.reclaimed == [] and report.reenqueued == [] and report.dry_run
    planned = {(a.video_id, a.action, a.reason) for a in report.actions}
    assert planned == {
        (expired, "would_reclaim", rc.LEASE_EXPIRED),
        (silent, "would_reclaim", rc.HEARTBEAT_MISSING),
        (stale, "would_reenqueue", rc.STALE_UPLOADED),
    }


def test_lost_enqueue_is_resent_once_per_period(world):
    stale = world.repo.create_video(TENANT)
    world.clock.advance(REENQUEUE_AFTER - 1)
    fresh = world.repo.create_video(TENANT)
    world.clock.advance(2)
    reconciler = world.reconciler()
    report = reconciler.run_once()
    assert report.reenqueued == [stale] and world.sent_ids() == [stale]
    assert [a.reason for a in report.actions] == [rc.STALE_UPLOADED]
    assert world.repo.get(stale).updated_at == world.clock.now  # touched: not every tick
    world.clock.advance(1)
    assert reconciler.run_once().reenqueued == []
    world.clock.advance(REENQUEUE_AFTER)
    assert sorted(reconciler.run_once().reenqueued) == sorted([stale, fresh])
    assert world.status(stale) == VideoStatus.UPLOADED


def test_a_stale_row_claimed_meanwhile_is_not_resent(world):
    stale = world.repo.create_video(TENANT)
    world.clock.advance(REENQUEUE_AFTER + 1)
    original = world.repo.list_stale_uploaded

    def listing_then_claim(*args, **kwargs):
        rows = original(*args, **kwargs)
        world.repo.try_claim_video(stale, "worker-a")
        return rows

    world.repo.list_stale_uploaded = listing_then_claim
    report = world.reconciler().run_once()
    assert report.skipped == [{"video_id": stale, "reason": rc.NO_LONGER_STALE}]
    assert world.queue.messages() == []


def test_sqs_down_reclaims_then_resends_on_the_next_pass(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(LEASE + 1)
    world.queue.down = True
    reconciler = world.reconciler()
    report = reconciler.run_once()
    assert report.reclaimed == [video_id] and report.reenqueued == []
    assert [(e["video_id"], e["stage"]) for e in report.errors] == [(video_id, "enqueue")]
    assert "Could not connect" in report.errors[0]["error"] and not report.ok
    assert world.status(video_id) == VideoStatus.UPLOADED
    assert reconciler.failed_enqueues == {video_id: TENANT}

    world.clock.advance(1)  # the row's updated_at is fresh: the stale rule would wait 600 s
    assert not reconciler.run_once().ok  # still down: kept for the next pass
    world.queue.down = False
    world.clock.advance(1)
    report = reconciler.run_once()
    assert report.ok and report.reenqueued == [video_id] and world.sent_ids() == [video_id]
    assert [a.reason for a in report.actions] == [rc.ENQUEUE_RETRY]
    assert reconciler.failed_enqueues == {}
    assert world.reconciler().run_once().reenqueued == []


def test_sqs_failure_in_a_single_run_is_caught_later_by_the_stale_rule(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(LEASE + 1)
    world.queue.down = True
    world.reconciler().run_once()  # a one-off run: its memory is gone afterwards
    world.queue.down = False
    world.clock.advance(REENQUEUE_AFTER - 1)
    assert world.reconciler().run_once().reenqueued == []
    world.clock.advance(2)
    report = world.reconciler().run_once()
    assert report.reenqueued == [video_id]
    assert [a.reason for a in report.actions] == [rc.STALE_UPLOADED]


def test_queue_failure_stops_further_sends_in_that_pass(world):
    videos = [world.claimed(f"w{i}", heartbeat=False) for i in range(3)]
    world.clock.advance(LEASE + 1)
    world.queue.down = True
    reconciler = world.reconciler()
    report = reconciler.run_once()
    assert sorted(report.reclaimed) == videos
    assert world.queue.attempts == 1, "each further send would spend its own retries"
    assert sorted(reconciler.failed_enqueues) == videos
    assert sorted(e["video_id"] for e in report.errors) == videos
    world.queue.down = False
    assert sorted(reconciler.run_once().reenqueued) == videos


def test_failed_resend_of_a_video_claimed_meanwhile_is_dropped(world):
    video_id = world.claimed(heartbeat=False)
    world.clock.advance(LEASE + 1)
    world.queue.down = True
    reconciler = world.reconciler()
    reconciler.run_once()
    world.queue.down = False
    assert world.repo.try_claim_video(video_id, "worker-b") is not None  # old message came back
    world.progress.set_heartbeat(TENANT, video_id, "worker-b")
    report = reconciler.run_once()
    assert {"video_id": video_id, "reason": rc.NO_LONGER_UPLOADED} in report.skipped
    assert reconciler.failed_enqueues == {} and world.queue.messages() == []


def test_force_reclaims_a_healthy_job(world):
    video_id = world.claimed(heartbeat=True)
    report = world.reconciler().run_once(force_video_id=video_id)
    assert report.forced and report.reclaimed == [video_id] and world.sent_ids() == [video_id]
    assert [a.reason for a in report.actions if a.action == "reclaimed"] == [rc.FORCED]
    assert world.status(video_id) == VideoStatus.UPLOADED


def test_force_on_a_video_that_is_not_processing_or_missing(world):
    uploaded = world.repo.create_video(TENANT)
    report = world.reconciler().run_once(force_video_id=uploaded)
    assert report.skipped == [{"video_id": uploaded, "reason": "not_processing:UPLOADED"}]
    assert report.ok and world.queue.messages() == []
    missing = world.reconciler().run_once(force_video_id=999)
    assert [(e["video_id"], e["error"]) for e in missing.errors] == [(999, "no such video")]


def test_force_dry_run_changes_nothing(world):
    video_id = world.claimed()
    report = world.reconciler().run_once(dry_run=True, force_video_id=video_id)
    assert [(a.action, a.reason) for a in report.actions] == [("would_reclaim", rc.FORCED)]
    assert world.status(video_id) == VideoStatus.PROCESSING and world.queue.messages() == []


def test_database_error_is_reported_and_the_other_rule_still_runs(world):
    stale = world.repo.create_video(TENANT)
    world.clock.advance(REENQUEUE_AFTER + 1)

    def broken(limit=100):
        raise OSError("connection refused")

    world.repo.list_processing = broken
    report = world.reconciler().run_once()
    assert [e["stage"] for e in report.errors] == ["list_processing"]
    assert report.reenqueued == [stale]


def test_limit_bounds_the_rows_looked_at(world):
    for i in range(5):
        world.claimed(f"w{i}", heartbeat=False)
    world.clock.advance(LEASE + 1)
    assert len(world.reconciler(limit=2).run_once().reclaimed) == 2
    with pytest.raises(ValueError):
        world.reconciler(limit=0)


def test_two_reconcilers_at_once_reclaim_each_video_once(world):
    videos = [world.claimed(f"w{i}", heartbeat=False) for i in range(40)]
    world.clock.advance(LEASE + 1)
    reports = []
    barrier = threading.Barrier(2)

    def run():
        barrier.wait()
        reports.append(world.reconciler().run_once())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reclaimed = [v for r in reports for v in r.reclaimed]
    assert sorted(reclaimed) == videos
    assert sorted(world.sent_ids()) == videos


def test_report_is_json(world):
    world.claimed(heartbeat=False)
    world.clock.advance(LEASE + 1)
    world.progress.available = False
    data = json.loads(json.dumps(world.reconciler().run_once().to_dict()))
    assert set(data) >= {
        "reclaimed",
        "reenqueued",
        "skipped",
        "errors",
        "redis_available",
        "actions",
        "notes",
        "dry_run",
    }
    assert data["actions"][0]["action"] == "reclaimed"
