"""The VideoQueue contract: what the worker and reconcile rely on, on the fake and on SQS.

A subclass provides `timeline`: the queue, `advance(seconds)` (the fake moves its clock; on
a real queue time passes by itself) and `eventually(fn)` (the fake answers at once; a real
queue is polled until the answer comes or a timeout).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from src.application.ports.queue import QueueMessage, VideoQueue


@dataclass
class Timeline:
    queue: VideoQueue
    advance: Callable[[float], None]
    eventually: Callable[[Callable[[], Any]], Any]


def body(message: QueueMessage) -> dict[str, Any]:
    return json.loads(message.body)


class QueueContract:
    def test_a_sent_job_is_received_with_its_ids_and_trace(self, timeline: Timeline):
        q = timeline.queue
        message_id = q.send(12, 7, "req-1", trace_id="trace-9")
        got = timeline.eventually(lambda: q.receive(1, visibility_timeout=30))
        assert body(got) == {"video_id": 12, "tenant_id": 7, "request_id": "req-1"}
        assert (got.message_id, got.receive_count) == (message_id, 1)
        assert got.attributes == {"trace_id": "trace-9"}

    def test_a_received_message_is_hidden_until_its_visibility_timeout_ends(
        self, timeline: Timeline
    ):
        q = timeline.queue
        q.send(1, 1, "r")
        first = timeline.eventually(lambda: q.receive(1, visibility_timeout=2))
        assert q.receive(0) is None, "visible while in flight"
        timeline.advance(2)
        again = timeline.eventually(lambda: q.receive(1, visibility_timeout=30))
        assert (again.message_id, again.receive_count) == (first.message_id, 2)
        assert again.receipt_handle != first.receipt_handle

    def test_visibility_zero_gives_the_message_back_at_once(self, timeline: Timeline):
        q = timeline.queue
        q.send(1, 1, "r")
        first = timeline.eventually(lambda: q.receive(1, visibility_timeout=300))
        q.change_visibility(first, 0)
        again = timeline.eventually(lambda: q.receive(1, visibility_timeout=300))
        assert again.message_id == first.message_id

    def test_a_longer_visibility_keeps_the_message_hidden_past_its_first_timeout(
        self, timeline: Timeline
    ):
        q = timeline.queue
        q.send(1, 1, "r")
        first = timeline.eventually(lambda: q.receive(1, visibility_timeout=1))
        q.change_visibility(first, 300)
        timeline.advance(2)
        assert q.receive(1) is None

    def test_a_deleted_message_never_comes_back(self, timeline: Timeline):
        q = timeline.queue
        q.send(1, 1, "r")
        first = timeline.eventually(lambda: q.receive(1, visibility_timeout=1))
        q.delete(first)
        timeline.advance(2)
        assert q.receive(1) is None

    def test_a_delayed_message_arrives_only_after_its_delay(self, timeline: Timeline):
        q = timeline.queue
        q.send(5, 1, "r", delay_seconds=2)
        assert q.receive(0) is None, "a delayed message was visible at once"
        timeline.advance(2)
        got = timeline.eventually(lambda: q.receive(1, visibility_timeout=30))
        assert body(got)["video_id"] == 5
