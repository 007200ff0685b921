"""Direct uploads to S3 (moto's server): presigned PUT, multipart with ETags, their failures."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from apps.support.video.models import Video
from tests.integration.api.conftest import ApiHarness

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


def put(url: str, data: bytes) -> str:
    """PUT straight to the storage, as a browser does: no API key. Returns the ETag.

    (urllib's default form Content-Type would make moto's server read the body as a form.)
    """
    request = urllib.request.Request(url, data=data, method="PUT", headers=OCTETS)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return response.headers["ETag"]


def objects(api: ApiHarness) -> list[str]:
    return [o["Key"] for o in api.s3.list_objects_v2(Bucket=api.bucket).get("Contents", [])]


def test_presigned_put_then_complete(s3_api: ApiHarness):
    api = s3_api
    created = api.create(title="small")
    upload = created["upload"]
    assert upload["url"].startswith("http://127.0.0.1:") and "X-Amz-Signature" in upload["url"]
    assert upload["parts"] is None
    put(upload["url"], b"video bytes" * 100)
    done = api.post_json(f"/api/v1/videos/{created['id']}/upload-complete", {})
    assert done.status_code == 202, done.content
    assert done.json()["size_bytes"] == 1100
    row = Video.objects.get(pk=created["id"])
    assert objects(api) == [f"media/{row.source_key}"]
    assert len(api.messages()) == 1


def test_multipart_plan_upload_and_complete_with_etags(s3_api: ApiHarness):
    api = s3_api
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: three parts of 5 MiB
    created = api.create(title="big", size_bytes=len(data), filename="big.mp4")
    upload = created["upload"]
    assert upload["part_size"] == 5 * MIB
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    etags = [
        put(p["url"], data[(p["part_number"] - 1) * 5 * MIB : p["part_number"] * 5 * MIB])
        for p in upload["parts"]
    ]
    parts = [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]
    done = api.post_json(f"/api/v1/videos/{created['id']}/upload-complete", {"parts": parts})
    assert done.status_code == 202, done.content
    assert done.json()["size_bytes"] == len(data)
    row = Video.objects.get(pk=created["id"])
    stored = api.s3.get_object(Bucket=api.bucket, Key=f"media/{row.source_key}")["Body"].read()
    assert stored == data


def test_multipart_complete_without_etags_uses_the_stored_parts(s3_api: ApiHarness):
    api = s3_api
    data = b"x" * (6 * MIB)
    created = api.create(title="big", size_bytes=len(data))
    first, second = created["upload"]["parts"]
    put(first["url"], data[: 5 * MIB])
    put(second["url"], data[5 * MIB :])
    done = api.client.generic(
        "POST", f"/api/v1/videos/{created['id']}/upload-complete", b"", "", headers=api.headers()
    )
    assert done.status_code == 202, done.content


def test_multipart_with_a_wrong_etag_is_refused_and_the_row_waits(s3_api: ApiHarness):
    api = s3_api
    data = b"y" * (6 * MIB)
    created = api.create(title="big", size_bytes=len(data))
    first, second = created["upload"]["parts"]
    put(first["url"], data[: 5 * MIB])
    etag = put(second["url"], data[5 * MIB :])
    parts = [
        {"part_number": 1, "etag": '"0123456789abcdef0123456789abcdef"'},
        {"part_number": 2, "etag": etag},
    ]
    response = api.post_json(f"/api/v1/videos/{created['id']}/upload-complete", {"parts": parts})
    assert response.status_code == 409
    assert response.json()["code"] == "UPLOAD_NOT_FOUND"
    assert "multipart upload cannot be completed" in response.json()["detail"]
    assert Video.objects.get(pk=created["id"]).status == "AWAITING_UPLOAD"
    assert objects(api) == []


def test_complete_with_nothing_uploaded_to_s3_is_409(s3_api: ApiHarness):
    api = s3_api
    created = api.create(title="nothing")
    response = api.post_json(f"/api/v1/videos/{created['id']}/upload-complete", {})
    assert response.status_code == 409 and response.json()["code"] == "UPLOAD_NOT_FOUND"


def test_a_too_large_s3_object_is_refused_and_deleted(s3_api: ApiHarness):
    api = s3_api
    created = api.create(title="too big")
    put(created["upload"]["url"], b"z" * 5000)
    api.rebuild(max_source_bytes=4000)
    response = api.post_json(f"/api/v1/videos/{created['id']}/upload-complete", {})
    assert response.status_code == 413 and response.json()["code"] == "INPUT_TOO_LARGE"
    assert objects(api) == []
    assert Video.objects.get(pk=created["id"]).status == "AWAITING_UPLOAD"


def test_cancel_aborts_an_open_multipart_upload(s3_api: ApiHarness):
    api = s3_api
    created = api.create(title="big", size_bytes=6 * MIB)
    put(created["upload"]["parts"][0]["url"], b"a" * (5 * MIB))
    assert api.post_json(f"/api/v1/videos/{created['id']}/cancel", {}).status_code == 200
    uploads = api.s3.list_multipart_uploads(Bucket=api.bucket).get("Uploads", [])
    assert uploads == []
    with pytest.raises(urllib.error.HTTPError):
        put(created["upload"]["parts"][1]["url"], b"b" * MIB)
