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


def test_every_word_must_be_in_one_track_and_its_cues_holding_more_of_them_come_first(
    library: Library,
):
    """A phrase split over two cues still finds its lecture (cues cut speech every few
    seconds); words said in different videos find neither."""
    split, other = library.video(), library.video()
    library.track(split, ["we start with linear", "algebra today", "linear algebra at last"])
    library.track(other, ["group theory"])
    [match] = library.find("linear algebra")
    assert match.video_id == split
    assert match.hits[0].text == "linear algebra at last"
    assert {h.text for h in match.hits[1:]} == {"we start with linear", "algebra today"}
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


def oldest_says_it_most(library: Library, newer: int) -> tuple[int, list[int]]:
    """The oldest video says "entropy" four times, `newer` later ones once each; another
    tenant's video, newer still, says it twice."""
    oldest = library.video()
    library.track(oldest, ["entropy entropy entropy", "entropy again"])
    later = [library.video() for _ in range(newer)]
    for video in later:
        library.track(video, ["entropy once", "and then other words for a while"])
    theirs = library.video(tenant_id=library.other_tenant_id)
    library.track(theirs, ["entropy", "entropy"], tenant_id=library.other_tenant_id)
    return oldest, later


def test_hits_outrank_age_among_the_ranked_matches(library: Library):
    """Within the bound on ranking the video with the most hits ranks first even when every
    other match is newer, and another tenant's newer tracks change nothing."""
    oldest, newer = oldest_says_it_most(library, 5)
    found = [m.video_id for m in library.find("entropy")]
    assert found[0] == oldest
    assert sorted(found[1:]) == sorted(newer)


def test_only_the_newest_matches_are_ranked_but_every_match_is_listed(library: Library):
    """The bound on ranking (RANKED_MATCHES, here 3): the oldest matching video is past it, so
    it comes after the ranked ones however many hits it has; a title match still comes first,
    and another tenant's newer tracks take no place."""
    by_title = library.video("Entropy explained")
    oldest, newer = oldest_says_it_most(library, 3)
    bounded = transcript_search(library.alias, ranked=3)

    def found(offset: int = 0, limit: int = 10) -> list[int]:
        videos = VideoFilter(library.tenant_id, limit=limit)
        return [m.video_id for m in bounded.search(SearchQuery(["entropy"], videos, offset))]

    assert found() == [by_title, *reversed(newer), oldest]
    # Pages cut through the tiers as through one list.
    assert [v for n in range(0, 5, 2) for v in found(n, 2)] == found()
    assert found(4, 2) == [oldest]
    assert found(5, 2) == []


def test_ranked_title_matches_come_before_the_others_and_pages_follow_the_tiers(library: Library):
    """Title matches first: the ranked ones by score, then the older ones newest first; then
    the other ranked videos; then every other match, newest first."""
    old_title, old_spoken = library.video("Entropy, the first"), library.video()
    library.track(old_title, ["nothing about it"])
    library.track(old_spoken, ["entropy", "entropy"])
    new_title, new_spoken = library.video("Entropy again"), library.video()
    library.track(new_title, ["entropy entropy entropy"])
    library.track(new_spoken, ["entropy"])
    bounded = transcript_search(library.alias, ranked=2)
    query = SearchQuery(["entropy"], VideoFilter(library.tenant_id, limit=10))
    assert [m.video_id for m in bounded.search(query)] == [
        new_title,  # ranked, title
        old_title,  # title, not ranked (its track does not say the word)
        new_spoken,  # ranked
        old_spoken,  # neither: newest first
    ]
    for offset in range(5):
        page = SearchQuery(["entropy"], VideoFilter(library.tenant_id, limit=1), offset)
        assert [m.video_id for m in bounded.search(page)] == (
            [[new_title, old_title, new_spoken, old_spoken][offset]] if offset < 4 else []
        )


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
    captions = DjangoCaptionRepository(using=alias)

    def spoken(title: str) -> int:
        video = videos.create_video(tenant, title=title)
        captions.put_uploaded(
            NewUploadedTrack(video, tenant, "en", "en", "a.vtt", "a.m3u8", [Cue(1, 2, "diode")])
        )
        return video

    before = spoken("Before the remake: entropy")
    with connections[alias].cursor() as cursor:
        for table in ("video_title_fts", "captions_video_fts"):
            for event in ("insert", "update", "delete"):
                cursor.execute(f"DROP TRIGGER {table}_{event}")
    after = spoken("After the remake: entropy")
    search = transcript_search(alias)

    def found(word: str) -> list[int]:
        query = SearchQuery([word], VideoFilter(tenant, limit=10))
        return sorted(m.video_id for m in search.search(query))

    # The rows written without a trigger are not indexed.
    assert found("entropy") == found("diode") == [before]
    rebuilt = ensure_sqlite_search_index(connections[alias])
    assert sorted(rebuilt) == ["captions_video_fts", "video_title_fts"]
    assert found("entropy") == found("diode") == [before, after]
    assert ensure_sqlite_search_index(connections[alias]) == []


@pytest.mark.parametrize("alias", ["sqlite", "default"])
def test_the_track_documents_migration_indexes_the_tracks_already_there(alias: str):
    """Captions 0003 makes each READY track's search document from its cues indexed by 0002:
    a library searchable before the migration is searchable after it, hits and all."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    from apps.support.captions.models import CaptionCue, CaptionTrack

    def migrate(target: str) -> None:
        MigrationExecutor(connections[alias]).migrate([("captions", target)])

    migrate("0002_caption_cue_search_index")
    try:
        tenant = Tenant.objects.using(alias).create(slug=f"search-migrate-{alias}", name="m")
        video = DjangoVideoRepository(using=alias).create_video(tenant.pk, title="Week 9")
        track = CaptionTrack.objects.using(alias).create(
            tenant=tenant, video_id=video, kind="uploaded", status="READY", language="en"
        )
        CaptionCue.objects.using(alias).bulk_create(
            CaptionCue(
                track=track,
                video_id=video,
                tenant=tenant,
                language="en",
                config="english",
                start=start,
                end=start + 3,
                text=text,
            )
            for start, text in [(5.0, "solving equations"), (9.0, "step by step")]
        )
    finally:
        migrate("0003_caption_track_text")
    query = SearchQuery(query_words("equation steps"), VideoFilter(tenant.pk, limit=10))
    [match] = transcript_search(alias).search(query)
    assert match.video_id == video
    assert sorted(h.start for h in match.hits) == [5.0, 9.0]
