"""Starting the worker with a bad configuration: exit 1 and one clear line, no traceback."""

from __future__ import annotations

import pytest

from tests.e2e.harness import worker_args

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIDEO_LEASE_SECONDS": "abc"}, "VIDEO_LEASE_SECONDS must be an integer, got 'abc'"),
        ({"VIDEO_FAST_ACK": "sometimes"}, "VIDEO_FAST_ACK must be 0 or 1"),
        ({"VIDEO_STORAGE_URL": "ftp://media"}, "VIDEO_STORAGE_URL must be a URL"),
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0"),
        (
            {"VIDEO_SQS_QUEUE_URL": "", "VIDEO_SQS_QUEUE_NAME": "no-such-queue"},
            "SQS queue 'no-such-queue' does not exist",
        ),
    ],
)
def test_bad_configuration_exits_1_with_clear_message(spawn, env, message):
    worker = spawn("worker", worker_args(None, "--exit-when-idle", "2"), **env)
    assert worker.wait(60) == 1
    err = worker.err_path.read_text()
    assert f"configuration error: {message}" in err
    assert "Traceback" not in err


def test_bad_arguments_exit_2(spawn):
    worker = spawn("worker", worker_args(None, "--max-messages", "0"))
    assert worker.wait(60) == 2
    assert "--max-messages must be at least 1" in worker.err_path.read_text()
