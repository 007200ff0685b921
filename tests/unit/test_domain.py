"""The domain: error codes, stop reasons and the retry policy every adapter applies."""

from __future__ import annotations

import pytest

from src.application.domain import (
    ErrorCode,
    JobStopped,
    StopReason,
    VideoProcessingError,
    VideoStatus,
    exhausted_message,
    fail_outcome,
    retry_delay,
)


def test_retry_delay_doubles_and_caps_at_sqs_maximum_delay():
    assert [retry_delay(n) for n in (1, 2, 3, 10)] == [30, 60, 120, 900]
    assert [retry_delay(n, base=1) for n in (0, 1, 2)] == [1, 1, 2]


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_says_what_it_means(code: ErrorCode):
    assert code.value == code.name
    assert isinstance(code.retryable, bool)
    assert code.description and code.description[0].islower()


def test_media_errors_are_final_and_outages_are_retried():
    final = {c for c in ErrorCode if not c.retryable}
    assert {ErrorCode.UNSUPPORTED_MEDIA, ErrorCode.PROBE_FAILED, ErrorCode.INPUT_TOO_LARGE} <= final
    assert ErrorCode.MAX_ATTEMPTS_EXCEEDED in final
    assert ErrorCode.STORAGE_FAILED.retryable and ErrorCode.TRANSCODE_STALLED.retryable


def test_an_error_takes_its_codes_retryability_unless_told_otherwise():
    assert VideoProcessingError(ErrorCode.STORAGE_FAILED, "s3 down").retryable is True
    assert VideoProcessingError(ErrorCode.PROBE_FAILED, "bad").retryable is False
    killed = VideoProcessingError(ErrorCode.PROBE_FAILED, "ffprobe killed", retryable=True)
    assert killed.retryable is True
    assert str(killed) == "PROBE_FAILED: ffprobe killed"
    with pytest.raises(ValueError, match="NOT_A_CODE"):
        VideoProcessingError("NOT_A_CODE", "typo")


def test_a_retryable_failure_with_attempts_left_goes_back_to_uploaded():
    failure = fail_outcome(1, 3, ErrorCode.STORAGE_FAILED, "s3 timed out", retryable=True)
    assert (failure.status, failure.error_code, failure.error_message) == (
        VideoStatus.UPLOADED,
        ErrorCode.STORAGE_FAILED,
        "s3 timed out",
    )
    assert failure.will_retry


def test_a_retryable_failure_on_the_last_attempt_exhausts_the_video():
    failure = fail_outcome(3, 3, ErrorCode.STORAGE_FAILED, "s3 timed out", retryable=True)
    assert (failure.status, failure.error_code) == (
        VideoStatus.FAILED,
        ErrorCode.MAX_ATTEMPTS_EXCEEDED,
    )
    assert (
        failure.error_message == "attempts exhausted (3); last error: STORAGE_FAILED: s3 timed out"
    )
    assert not failure.will_retry


def test_a_final_failure_keeps_its_own_code_and_message():
    failure = fail_outcome(1, 3, ErrorCode.UNSUPPORTED_MEDIA, "x" * 5000, retryable=False)
    assert (failure.status, failure.error_code) == (VideoStatus.FAILED, ErrorCode.UNSUPPORTED_MEDIA)
    assert failure.error_message == "x" * 2000


def test_the_exhausted_message_names_the_last_error_or_says_there_was_none():
    assert exhausted_message(3) == "attempts exhausted (3); last error: none recorded"
    assert (
        exhausted_message(2, ErrorCode.STORAGE_FAILED)
        == "attempts exhausted (2); last error: STORAGE_FAILED"
    )
    assert len(exhausted_message(2, ErrorCode.STORAGE_FAILED, "y" * 5000)) == 2000


def test_stop_reasons_are_spelled_one_way():
    assert StopReason("canceled") is StopReason.CANCELED
    assert [r.value for r in StopReason] == [
        "shutdown",
        "canceled",
        "lease_lost",
        "stall",
        "visibility_cap",
    ]
    assert JobStopped("lease_lost").reason is StopReason.LEASE_LOST
    with pytest.raises(ValueError):
        JobStopped("cancel")


def test_statuses_follow_the_lifecycle():
    assert [s.value for s in VideoStatus] == [
        "AWAITING_UPLOAD",
        "UPLOADED",
        "PROCESSING",
        "READY",
        "FAILED",
        "CANCELED",
    ]
