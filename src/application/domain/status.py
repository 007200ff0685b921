"""The video lifecycle's statuses (docs/ARCHITECTURE.md, "Video lifecycle")."""

from __future__ import annotations

import enum


class VideoStatus(enum.StrEnum):
    """One definition: the Django model's choices are derived from it."""

    AWAITING_UPLOAD = "AWAITING_UPLOAD"  # row created, the client still uploads the source
    UPLOADED = "UPLOADED"  # the source is stored: a worker may claim it
    PROCESSING = "PROCESSING"  # claimed: a lease names its worker
    READY = "READY"  # the HLS ladder is published under hls_key
    FAILED = "FAILED"  # error_code says why
    CANCELED = "CANCELED"

    @property
    def label(self) -> str:
        """The human label: "Awaiting upload", "Uploaded", …"""
        return self.value.replace("_", " ").capitalize()
