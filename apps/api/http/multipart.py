"""multipart/form-data uploads: files go to a temporary file (never memory), stop at the size
limit, and are hashed as they arrive (the Idempotency-Key fingerprint of a one-request upload).
"""

from __future__ import annotations

import hashlib

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest

from src.application.domain import ErrorCode
from src.application.video_errors import SourceTooLarge

MULTIPART = "multipart/form-data"
SOURCE_LIMIT = "VIDEO_MAX_SOURCE_BYTES"


class SizeLimitedUpload(TemporaryFileUploadHandler):
    def __init__(self, request: HttpRequest, limit: int, setting: str = SOURCE_LIMIT) -> None:
        super().__init__(request)
        self.limit = limit
        self.setting = setting
        self.received = 0
        self.digests: dict[str, str] = {}
        self._sha = hashlib.sha256()

    def new_file(self, field_name, *args, **kwargs) -> None:
        self._sha = hashlib.sha256()
        super().new_file(field_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise SourceTooLarge(
                f"the file is more than {self.setting} ({self.limit} bytes)",
                None if self.setting == SOURCE_LIMIT else ErrorCode.PAYLOAD_TOO_LARGE,
            )
        self._sha.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        self.digests[self.field_name] = self._sha.hexdigest()
        return super().file_complete(file_size)


def parse(request: HttpRequest, limit: int, setting: str = SOURCE_LIMIT) -> SizeLimitedUpload:
    """Read the form once (later reads of request.POST/FILES reuse it); returns the handler,
    which knows each file's SHA-256."""
    handler = getattr(request, "_size_limited_upload", None)
    if handler is None:
        handler = SizeLimitedUpload(request, limit, setting)
        request.upload_handlers = [handler]
        request._size_limited_upload = handler
        request.FILES  # noqa: B018 - parses the body through the handler
    return handler
