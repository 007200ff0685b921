"""A source PUT streams to storage as it arrives (no spooled copy of the whole body), and a
cancel while its bytes are being stored leaves no source behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator

from academy.asgi import application
from apps.support.video.models import Video
from tests.integration.api.conftest import ApiHarness

pytestmark = pytest.mark.django_db(transaction=True)
CHUNK = 1024 * 1024
CHUNKS = 4


def _scope(api: ApiHarness, video_id: int) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": f"/api/v1/videos/{video_id}/source",
        "raw_path": f"/api/v1/videos/{video_id}/source".encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {api.key}".encode()),
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(CHUNK * CHUNKS).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


def _stored_so_far(root: Path) -> int:
    """Bytes the storage holds for the upload in progress (its temporary file)."""
    return sum(p.stat().st_size for p in root.rglob(".partial-*") if p.is_file())


async def _until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _put_all_but_the_last_chunk(app: ApplicationCommunicator, root: Path) -> None:
    for _ in range(CHUNKS - 1):
        await app.send_input({"type": "http.request", "body": b"v" * CHUNK, "more_body": True})
    # Storage has bytes while the client still holds the last chunk: nothing waits for the
    # whole body (Django's own handler would spool it to a temporary file first).
    await _until(lambda: _stored_so_far(root) >= CHUNK, "bytes in storage before the body ends")


def test_a_put_reaches_storage_while_the_body_is_still_arriving(api: ApiHarness):
    video = api.create(size_bytes=CHUNK * CHUNKS)

    async def scenario():
        app = ApplicationCommunicator(application, _scope(api, video["id"]))
        await _put_all_but_the_last_chunk(app, api.storage_root)
        await app.send_input({"type": "http.request", "body": b"v" * CHUNK, "more_body": False})
        start = await app.receive_output(30)
        await app.receive_output(30)  # the body
        return start["status"]

    assert asyncio.run(scenario()) == 200
    row = Video.objects.get(pk=video["id"])
    assert (api.storage_root / row.source_key).stat().st_size == CHUNK * CHUNKS


def test_a_cancel_while_the_source_is_stored_leaves_no_source(api: ApiHarness):
    video = api.create(size_bytes=CHUNK * CHUNKS)
    path = f"/api/v1/videos/{video['id']}"

    async def scenario():
        app = ApplicationCommunicator(application, _scope(api, video["id"]))
        await _put_all_but_the_last_chunk(app, api.storage_root)
        canceled = await asyncio.to_thread(api.post_json, f"{path}/cancel", {})
        assert canceled.status_code == 200, canceled.content
        await app.send_input({"type": "http.request", "body": b"v" * CHUNK, "more_body": False})
        start = await app.receive_output(30)
        await app.receive_output(30)
        return start["status"]

    assert asyncio.run(scenario()) == 409
    row = Video.objects.get(pk=video["id"])
    assert row.status == "CANCELED"
    assert not (api.storage_root / row.source_key).exists()
    assert _stored_so_far(api.storage_root) == 0


def test_a_cancel_after_the_put_removes_the_unconfirmed_source(api: ApiHarness):
    video = api.create()
    path = f"/api/v1/videos/{video['id']}"
    assert api.put_bytes(f"{path}/source", b"x" * 1000).status_code == 200
    row = Video.objects.get(pk=video["id"])
    assert (api.storage_root / row.source_key).exists()
    assert api.post_json(f"{path}/cancel", {}).status_code == 200
    assert not (api.storage_root / row.source_key).exists()
