"""A store that is down is reported once per interval, with how many warnings were held back."""

from __future__ import annotations

from structlog.testing import capture_logs

from src.application.ports.fakes import FakeClock
from src.application.rate_limited_warning import RateLimitedWarning


def test_one_warning_per_interval_counting_the_ones_held_back():
    clock = FakeClock()
    warning = RateLimitedWarning("REDIS_UNAVAILABLE", interval=20, clock=clock)
    with capture_logs() as logs:
        assert warning.warn(video_id=1)
        for _ in range(5):
            clock.advance(3)
            assert not warning.warn(video_id=1)
        clock.advance(5)  # 20 s after the first
        assert warning.warn(video_id=1)
    assert [(e["event"], e["suppressed"], e["video_id"]) for e in logs] == [
        ("REDIS_UNAVAILABLE", 0, 1),
        ("REDIS_UNAVAILABLE", 5, 1),
    ]
