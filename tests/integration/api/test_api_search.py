"""Searching the library by what is said (GET /api/v1/videos?q=) and the transcript API;
another tenant's transcripts never match; bad input is a clear problem."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import ApiHarness, assert_problem
from tests.integration.api.test_api_captions import ready_video, upload

pytestmark = pytest.mark.django_db

SRT = b"""1
00:00:01,000 --> 00:00:03,500
Welcome to the lecture.

2
00:00:15,000 --> 00:00:18,000
Today we derive the Fourier transform.
"""


def captioned(api: ApiHarness, title: str, srt: bytes = SRT, key: str | None = None) -> int:
    video_id, _prefix = ready_video(api)
    response = upload(api, video_id, srt, key=key)
    assert response.status_code == 201, response.content
    from apps.support.video.models import Video

    Video.objects.filter(pk=video_id).update(title=title)
    return video_id


def search(api: ApiHarness, query: str, key: str | None = None, **params):
    return api.client.get("/api/v1/videos", {"q": query, **params}, headers=api.headers(key))


def test_a_spoken_word_finds_the_video_with_the_second_it_is_said(api):
    video_id = captioned(api, "Week 1")
    other = captioned(api, "Week 2", SRT.replace(b"Fourier", b"Laplace"))
    response = search(api, "fourier")
    assert response.status_code == 200, response.content
    [item] = response.json()["items"]
    assert item["id"] == video_id
    [hit] = item["hits"]
    assert hit["start"] == 15.0 and hit["end"] == 18.0
    assert hit["text"] == "Today we derive the Fourier transform."
    assert hit["track"]["language"] == "en" and hit["track"]["id"] > 0
    assert [i["id"] for i in search(api, "laplace").json()["items"]] == [other]
    assert search(api, "quaternion").json()["items"] == []


def test_a_title_match_comes_first_without_a_start(api):
    spoken = captioned(api, "Week 1")
    titled = captioned(api, "Fourier series", SRT.replace(b"Fourier", b"Laplace"))
    items = search(api, "Fourier").json()["items"]
    assert [i["id"] for i in items] == [titled, spoken]
    assert items[0]["hits"][0] == {
        "start": None,
        "end": None,
        "text": "Fourier series",
        "track": None,
    }


def test_search_combines_with_filters_and_pages_with_a_cursor(api):
    ids = {captioned(api, f"Lecture {n}") for n in range(3)}
    first = search(api, "transform", limit=2).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = search(api, "transform", limit=2, cursor=first["next_cursor"]).json()
    assert rest["next_cursor"] is None
    assert {i["id"] for i in first["items"] + rest["items"]} == ids
    assert search(api, "transform", status="FAILED").json()["items"] == []


def test_without_q_items_carry_no_hits(api):
    captioned(api, "Week 1")
    [item] = api.get("/api/v1/videos").json()["items"]
    assert item["hits"] is None


def test_another_tenants_transcripts_never_match(api):
    _tenant, other_key = api.new_tenant("other-academy")
    theirs = api.create(title="Fourier secrets")  # ours, for contrast: a title match
    video_id, _prefix = ready_video(api)
    upload(api, video_id, SRT)
    # The other tenant searches: neither our title nor our transcript is theirs to find.
    assert search(api, "fourier", key=other_key).json()["items"] == []
    assert {i["id"] for i in search(api, "fourier").json()["items"]} == {theirs["id"], video_id}


def test_canceled_video_never_appears(api):
    video_id = captioned(api, "Week 1")
    from apps.support.video.models import Video

    Video.objects.filter(pk=video_id).update(status="CANCELED")
    assert search(api, "fourier").json()["items"] == []


@pytest.mark.parametrize("query", ["", "!!!", "x" * 201, "?-*"])
def test_a_query_without_words_or_too_long_is_a_422(api, query):
    assert_problem(search(api, query), 422, "VALIDATION_FAILED")


def test_a_list_cursor_is_not_a_search_cursor(api):
    for n in range(2):
        captioned(api, f"Lecture {n}")
    listed = api.get("/api/v1/videos?limit=1").json()
    assert_problem(search(api, "fourier", cursor=listed["next_cursor"]), 422, "VALIDATION_FAILED")


def test_transcript_as_json_and_as_text(api):
    video_id = captioned(api, "Week 1")
    response = api.get(f"/api/v1/videos/{video_id}/transcript")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["video_id"] == video_id and body["track"]["language"] == "en"
    assert body["cues"] == [
        {"start": 1.0, "end": 3.5, "text": "Welcome to the lecture."},
        {"start": 15.0, "end": 18.0, "text": "Today we derive the Fourier transform."},
    ]
    text = api.get(f"/api/v1/videos/{video_id}/transcript?format=txt")
    assert text.status_code == 200
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert "attachment" in text["Content-Disposition"]
    assert text.content.decode() == (
        "Week 1\n\n[0:01] Welcome to the lecture.\n[0:15] Today we derive the Fourier transform.\n"
    )
    assert api.get(f"/api/v1/videos/{video_id}/transcript?language=en").status_code == 200


def test_transcript_problems(api):
    video_id = captioned(api, "Week 1")
    bare, _prefix = ready_video(api)
    assert_problem(api.get(f"/api/v1/videos/{bare}/transcript"), 404, "NOT_FOUND")
    assert_problem(api.get(f"/api/v1/videos/{video_id}/transcript?language=fr"), 404, "NOT_FOUND")
    bad = api.get(f"/api/v1/videos/{video_id}/transcript?format=pdf")
    assert bad.status_code in (400, 422), bad.content
    assert bad["Content-Type"] == "application/problem+json"
    assert api.get(f"/api/v1/videos/{video_id}/transcript?language=e!").status_code in (400, 422)
    _tenant, other_key = api.new_tenant("other-academy")
    assert_problem(
        api.get(f"/api/v1/videos/{video_id}/transcript", key=other_key), 404, "NOT_FOUND"
    )


def test_the_library_page_searches_and_links_each_hit_to_its_second(api):
    from tests.integration.api.test_web_session import signed_in

    video_id = captioned(api, "Week 1")
    client = signed_in(api)
    page = client.get("/", {"q": "Fourier"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/videos/{video_id}?t=15"' in html
    assert "Today we derive the Fourier transform." in html and "<time>0:15</time>" in html
    assert 'name="q" type="search" value="Fourier"' in html
    nothing = client.get("/", {"q": "quaternion"}).content.decode()
    assert "Nothing said or titled “quaternion”" in nothing
    assert client.get("/", {"q": "!!!"}).status_code == 400
    video_page = client.get(f"/videos/{video_id}").content.decode()
    assert 'class="card transcript" id="transcript"' in video_page
