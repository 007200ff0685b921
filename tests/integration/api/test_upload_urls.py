"""The signed upload URL on file storage: it works as given (no API key), for its video only,
until it expires; a bad signature is a 401 problem that does not say what was wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.api.keys import upload_urls
from apps.support.video.models import Video
from tests.integration.api.conftest import ApiHarness, assert_problem

pytestmark = pytest.mark.django_db(transaction=True)
OCTETS = "application/octet-stream"


def _put(api: ApiHarness, url: str, data: bytes = b"lecture bytes", **headers):
    return api.client.put(url, data=data, content_type=OCTETS, headers=headers)


def test_the_upload_url_works_as_given_without_an_api_key(api: ApiHarness):
    video = api.create(title="Week 1")
    upload = video["upload"]
    response = _put(api, upload["url"].removeprefix("http://testserver"), **upload["headers"])
    assert response.status_code == 200, response.content
    assert response.json()["id"] == video["id"]
    row = Video.objects.get(pk=video["id"])
    assert (api.storage_root / row.source_key).read_bytes() == b"lecture bytes"
    done = api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {})
    assert done.status_code == 202 and done.json()["status"] == "UPLOADED"


def test_a_signature_opens_its_own_video_only(api: ApiHarness):
    first, second = api.create(title="one"), api.create(title="two")
    signature = first["upload"]["url"].partition("?signature=")[2]
    response = _put(api, f"/api/v1/videos/{second['id']}/source?signature={signature}")
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert signature not in response.content.decode()
    row = Video.objects.get(pk=second["id"])
    assert not row.source_key or not (api.storage_root / row.source_key).exists()
    # Nor any other route of its own video.
    read = api.client.get(f"/api/v1/videos/{first['id']}?signature={signature}")
    assert_problem(read, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "signature",
    [
        "not-a-jwt",
        "x" * (upload_urls.MAX_SIGNATURE_LENGTH + 1),
        # Signed with another key.
        "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ2aWRlby1zb3VyY2UtdXBsb2FkIiwidCI6MSwidiI6MSwiZXhwIjo5OTk5OTk5OTk5fQ.c2lnbmF0dXJl",
    ],
)
def test_a_forged_signature_is_refused(api: ApiHarness, signature: str):
    video = api.create()
    response = _put(api, f"/api/v1/videos/{video['id']}/source?signature={signature}")
    body = assert_problem(response, 401, "UNAUTHENTICATED")
    assert "signature is not valid or has expired" in body["detail"]


def test_an_expired_signature_is_refused(api: ApiHarness):
    video = api.create()
    past = datetime.now(UTC) - timedelta(seconds=upload_urls.LEEWAY_SECONDS + 60)
    signature = upload_urls.sign(api.tenant.id, video["id"], past)
    response = _put(api, f"/api/v1/videos/{video['id']}/source?signature={signature}")
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert Video.objects.get(pk=video["id"]).status == "AWAITING_UPLOAD"


def test_the_api_key_still_works_on_the_route(api: ApiHarness):
    video = api.create()
    assert api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"abc").status_code == 200
