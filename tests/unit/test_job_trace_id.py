"""The job ticker: the trace id in every progress value it publishes, a line per renewal."""

from __future__ import annotations

from structlog.testing import capture_logs

from src.application.job_control import JobControl
from src.application.job_ticker import JobTicker
from src.application.ports.fakes import InMemoryProgress
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.rate_limited_warning import RateLimitedWarning


def test_progress_values_carry_the_trace_id():
    repo = InMemoryVideoRepository()
    progress = InMemoryProgress()
    video_id = repo.create_video(7, "lecture", source_key="tenants/7/videos/1/source/a.mp4")
    lease = repo.try_claim_video(video_id, "worker-1")
    ticker = JobTicker(
        lease,
        repo,
        progress,
        JobControl(),
        lease_seconds=30,
        interval=10,
        redis_warning=RateLimitedWarning("REDIS_UNAVAILABLE", 10),
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    )
    ticker.on_progress(40.0, "transcode")
    ticker.publish_final("ready", 100.0)
    record = progress.get_progress(7, video_id)
    assert {k: v for k, v in record.items() if k != "updated_at"} == {
        "percent": 100.0,
        "step": "ready",
        "worker_id": "worker-1",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }


def test_each_lease_renewal_is_one_line_with_the_new_expiry():
    repo = InMemoryVideoRepository()
    video_id = repo.create_video(7, "lecture", source_key="tenants/7/videos/1/source/a.mp4")
    lease = repo.try_claim_video(video_id, "worker-1")
    ticker = JobTicker(
        lease,
        repo,
        InMemoryProgress(),
        JobControl(),
        lease_seconds=30,
        interval=10,
        redis_warning=RateLimitedWarning("REDIS_UNAVAILABLE", 10),
    )
    with capture_logs() as logs:
        assert ticker._renew()
    (line,) = [entry for entry in logs if entry["event"] == "VIDEO_LEASE_RENEWED"]
    assert line["log_level"] == "info"
    assert line["lease_token"] == lease.token
    assert line["expires_at"] == ticker.lease.expires_at.isoformat()
