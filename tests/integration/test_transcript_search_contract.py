"""One contract for the transcript search port, run on SQLite (FTS5) and PostgreSQL (tsvector).

Tracks are written through the DjangoCaptionRepository, so the re-indexing hooks (a track
READY, replaced, deleted) are part of what is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from academy.adapters.db.django.repositories_captions import DjangoCaptionRepository
from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from academy.adapters.db.django.transcript_search import transcript_search
from apps.support.video.models import Tenant, Video
from src.application.domain import Cue, VideoStatus
from src.application.ports.captions import NewUploadedTrack
from src.application.ports.transcript_search import (
    MAX_HITS,
    SearchQuery,
    TranscriptSearch,
    query_words,
)
from src.application.ports.video_repository import VideoFilter
from tests.integration.repo_backends import DJANGO_DB

pytestmark = DJANGO_DB


@dataclass
class Library:
    alias: str
    search: TranscriptSearch
    captions: DjangoCaptionRepository
    videos: DjangoVideoRepository
    tenant_id: int
    other_tenant_id: int

    def video(self, title: str = "lecture", tenant_id: int | None = None) -> int:
        return self.videos.create_video(tenant_id or self.tenant_id, title=title)

    def track(self, video_id: int, lines: list[str], language: str = "en", tenant_id=None):
        cues = [Cue(10.0 * i, 10.0 * i + 4, text) for i, text in enumerate(lines)]
        record, _ = self.captions.put_uploaded(
            NewUploadedTrack(
                video_id=video_id,
                tenant_id=tenant_id or self.tenant_id,
                language=language,
                label=language,
                vtt_key=f"v/{video_id}/{language}.vtt",
                playlist_key=f"v/{video_id}/{language}.m3u8",
                cues=cues,
            )
        )
        return record

    def find(self, text: str, limit: int = 10, offset: int = 0, **filters):
        query = SearchQuery(
            query_words(text), VideoFilter(self.tenant_id, limit=limit, **filters), offset
        )
        return self.search.search(query)


@pytest.fixture(params=["sqlite", "postgres"])
def library(request) -> Library:
    alias = "sqlite" if request.param == "sqlite" else "default"
    tenants = Tenant.objects.using(alias)
    one = tenants.create(slug=f"search-a-{alias}", name="a").pk
    two = tenants.create(slug=f"search-b-{alias}", name="b").pk
    return Library(
        alias,
        transcript_search(alias),
        DjangoCaptionRepository(using=alias),
        DjangoVideoRepository(using=alias),
        one,
        two,
    )


def test_a_word_said_in_one_video_finds_that_video_and_the_cue(library: Library):
    one, two = library.video("Week 1"), library.video("Week 2")
    library.track(one, ["welcome to the course", "today we meet the Fourier transform"])
    library.track(two, ["welcome back", "we continue with matrices"])
    [match] = library.find("fourier")
    assert match.video_id == one
    [hit] = match.hits
    assert (hit.start, hit.end, hit.text, hit.language) == (10.0, 14.0, match.hits[0].text, "en")
    assert "Fourier" in hit.text
    assert library.find("nowhere said") == []


def test_case_punctuation_and_stemming(library: Library):
    video = library.video()
    library.track(video, ["Solving EQUATIONS, step-by-step!"])
    for query in ["equations", "Equation", "solve equation", "STEP by step?"]:
        assert [m.video_id for m in library.find(query)] == [video], query


def test_every_word_must_be_in_one_cue(library: Library):
    video = library.video()
    library.track(video, ["linear algebra", "group theory"])
    assert [m.video_id for m in library.find("linear algebra")] == [video]
    assert library.find("linear theory") == []


def test_title_match_ranks_first_and_has_no_start(library: Library):
    titled = library.video("Introduction to Entropy")
    spoken = library.video("Week 3")
    library.track(spoken, ["entropy"] * 6)
    library.track(titled, ["heat engines"])
    matches = library.find("entropy")
    assert [m.video_id for m in matches] == [titled, spoken]
    assert matches[0].hits[0].start is None


def test_more_and_better_hits_rank_higher(library: Library):
    few, many = library.video(), library.video()
    library.track(few, ["a gradient appears once", "then nothing"])
    library.track(many, ["gradient", "the gradient again", "gradient descent", "gradient"])
    matches = library.find("gradient")
    assert [m.video_id for m in matches] == [many, few]
    assert len(matches[0].hits) == 4
    assert matches[0].hits[0].rank >= matches[0].hits[-1].rank


def test_at_most_five_hits_best_first(library: Library):
    video = library.video()
    library.track(video, [f"topology part {n}" for n in range(9)])
    [match] = library.find("topology")
    assert len(match.hits) == MAX_HITS


def test_filters_limit_and_offset(library: Library):
    ids = [library.video(f"lecture {n}") for n in range(3)]
    for video_id in ids:
        library.track(video_id, ["calculus"])
    Video.objects.using(library.alias).filter(pk=ids[0]).update(status=VideoStatus.READY)
    assert [m.video_id for m in library.find("calculus", status=VideoStatus.READY)] == [ids[0]]
    first = library.find("calculus", limit=2)
    rest = library.find("calculus", limit=2, offset=2)
    assert len(first) == 2 and len(rest) == 1
    assert {m.video_id for m in first + rest} == set(ids)


def test_replaced_track_is_reindexed(library: Library):
    video = library.video()
    library.track(video, ["old words about prisms"])
    library.track(video, ["new words about lenses"])
    assert library.find("prisms") == []
    assert [m.video_id for m in library.find("lenses")] == [video]


def test_deleted_track_no_longer_matches(library: Library):
    video = library.video()
    record = library.track(video, ["thermodynamics"])
    library.captions.delete_track(record.id)
    assert library.find("thermodynamics") == []


def test_canceled_or_deleted_video_never_appears(library: Library):
    canceled, deleted = library.video(), library.video()
    library.track(canceled, ["photosynthesis"])
    library.track(deleted, ["photosynthesis"])
    Video.objects.using(library.alias).filter(pk=canceled).update(status=VideoStatus.CANCELED)
    Video.objects.using(library.alias).filter(pk=deleted).delete()
    assert library.find("photosynthesis") == []


def test_another_tenants_transcripts_and_titles_never_match(library: Library):
    theirs = library.video("Secret seminar", tenant_id=library.other_tenant_id)
    library.track(theirs, ["classified cryptography"], tenant_id=library.other_tenant_id)
    assert library.find("cryptography") == []
    assert library.find("seminar") == []


def test_query_syntax_is_taken_as_words(library: Library):
    video = library.video()
    library.track(video, ["near the end"])
    for hostile in ['"', "NEAR(", "end*", "text:end", "end OR", "-end", "end'; --"]:
        found = [m.video_id for m in library.find(hostile)]
        assert found in ([], [video]), hostile
    assert library.find("") == []


def test_sqlite_search_triggers_dropped_by_a_table_remake_come_back_after_migrate():
    """SQLite drops a table's triggers when Django remakes it for an ALTER: the post_migrate
    repair puts them back and refills the FTS table from the rows."""
    from django.db import connections

    from apps.support.captions.search_schema import ensure_sqlite_search_index

    alias = "sqlite"
    tenant = Tenant.objects.using(alias).create(slug="search-remake", name="r").pk
    videos = DjangoVideoRepository(using=alias)
    before = videos.create_video(tenant, title="Before the remake: entropy")
    with connections[alias].cursor() as cursor:
        for name in ("video_title_fts_insert", "video_title_fts_update", "video_title_fts_delete"):
            cursor.execute(f"DROP TRIGGER {name}")
    after = videos.create_video(tenant, title="After the remake: entropy")
    search = transcript_search(alias)

    def found() -> list[int]:
        query = SearchQuery(["entropy"], VideoFilter(tenant, limit=10))
        return sorted(m.video_id for m in search.search(query))

    assert found() == [before]  # the row written without a trigger is not indexed
    assert ensure_sqlite_search_index(connections[alias]) == ["video_title_fts"]
    assert found() == [before, after]
    assert ensure_sqlite_search_index(connections[alias]) == []


def test_ranking_is_bounded_to_the_newest_matching_cues_of_the_tenant(library: Library):
    """Past the bound (here 3 cues) only the videos of the newest matching cues are ranked;
    another tenant's newer cues never take a place, and a title match is never bounded."""
    bounded = transcript_search(library.alias, candidate_cues=3)
    by_title = library.video("Entropy explained")
    oldest = library.video()
    library.track(oldest, ["entropy entropy entropy", "entropy again"])
    newer = [library.video() for _ in range(3)]
    for video in newer:
        library.track(video, ["entropy once"])
    theirs = library.video(tenant_id=library.other_tenant_id)
    library.track(theirs, ["entropy", "entropy"], tenant_id=library.other_tenant_id)
    query = SearchQuery(query_words("entropy"), VideoFilter(library.tenant_id, limit=10))

    found = [m.video_id for m in bounded.search(query)]
    assert found[0] == by_title
    assert sorted(found[1:]) == sorted(newer)  # the oldest video's cues are past the bound
    unbounded = [m.video_id for m in library.find("entropy")]
    assert unbounded[:2] == [by_title, oldest]  # without the bound its 4 hits rank it first
    assert sorted(unbounded) == sorted([by_title, oldest, *newer])


def test_title_matches_are_bounded_too_but_a_listed_video_keeps_its_title_rank(library: Library):
    """Past the bound only the newest title matches are candidates; a video listed through its
    cues still ranks as a title match, and another tenant's titles never take a place."""
    bounded = transcript_search(library.alias, candidate_cues=3)
    oldest = library.video("Entropy, the first")
    newer = [library.video(f"Entropy part {n}") for n in range(3)]
    library.track(oldest, ["entropy"])  # its cue is the newest: inside the cue bound
    library.video("Entropy secrets", tenant_id=library.other_tenant_id)
    query = SearchQuery(query_words("entropy"), VideoFilter(library.tenant_id, limit=10))

    found = bounded.search(query)
    assert [m.video_id for m in found] == [oldest, *reversed(newer)]
    assert found[0].hits[0].start is None  # the title hit first
    assert all(m.hits[0].start is None for m in found)
