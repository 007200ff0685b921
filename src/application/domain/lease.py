"""The lease: proof that one worker owns one video's job, fenced by its token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Lease:
    """Returned by a successful claim; every later write is conditional on it.

    `token` grows by one on every claim of the video, so a worker whose lease expired and was
    taken over holds an older token and every write it attempts is rejected.
    """

    video_id: int
    tenant_id: int
    worker_id: str
    token: int
    expires_at: datetime
    attempt: int
    source_key: str = ""
    # The video's secret media salt: the claim's output prefix is derived from it
    # (storage_keys.job_output_prefix). Kept out of repr, so no log line can show it.
    media_salt: str = field(default="", repr=False)
