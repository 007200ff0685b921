"""The transcript search on Django's databases: PostgreSQL (tsvector + GIN) and SQLite (FTS5).

Two indexes, both plain Django rows with full-text columns or tables beside them kept in step
by triggers (migrations captions 0002 and 0003): each READY track's whole text
(CaptionTrackText), on which one query finds and ranks every matching video, and each of its
cues (CaptionCue), read only for the hits of the page's videos. Only the SQL differs by
database: which operator matches, how a match is ranked, and how the page's cues are found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from django.db import connections

from apps.support.captions.models import CaptionCue, CaptionTrackText
from src.application.domain import Cue, VideoStatus
from src.application.ports.transcript_search import (
    MAX_HITS,
    RANKED_TRACKS,
    SIMPLE,
    TITLE_SCORE,
    CueHit,
    SearchQuery,
    TranscriptSearch,
    VideoMatch,
    search_config,
    track_text,
)
from src.application.ports.video_repository import VideoFilter

# A hit's rank: the cue holds every word of the query, or only some of them.
EVERY_WORD = 2.0
SOME_WORDS = 1.0


@dataclass(frozen=True)
class Terms:
    """A query's words and, on PostgreSQL, the text search configurations to parse them with."""

    words: list[str]
    tenant_id: int
    configs: list[str] = field(default_factory=list)


def video_conditions(videos: VideoFilter) -> tuple[str, list[Any]]:
    """The list's own filters on `v` (video_video), as SQL and its parameters."""
    sql = ["v.tenant_id = %s", "v.status <> %s"]
    params: list[Any] = [videos.tenant_id, VideoStatus.CANCELED.value]
    if videos.status is not None:
        sql.append("v.status = %s")
        params.append(videos.status.value)
    if videos.external_id is not None:
        sql.append("v.external_id = %s")
        params.append(videos.external_id)
    if videos.created_after is not None:
        sql.append("v.created_at > %s")
        params.append(videos.created_after)
    return " AND ".join(sql), params


class DjangoTranscriptSearch(TranscriptSearch):
    """What both databases share: the index writes and the shape of a search."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def index_track(
        self, track_id: int, video_id: int, tenant_id: int, language: str, cues: Sequence[Cue]
    ) -> None:
        self.remove_track(track_id)
        owner = {
            "track_id": track_id,
            "video_id": video_id,
            "tenant_id": tenant_id,
            "language": language,
            "config": search_config(language),
        }
        CaptionCue.objects.using(self.using).bulk_create(
            CaptionCue(start=c.start, end=c.end, text=c.text, **owner) for c in cues
        )
        if cues:
            CaptionTrackText.objects.using(self.using).create(text=track_text(cues), **owner)

    def remove_track(self, track_id: int) -> None:
        CaptionCue.objects.using(self.using).filter(track_id=track_id).delete()
        CaptionTrackText.objects.using(self.using).filter(track_id=track_id).delete()

    def search(self, query: SearchQuery) -> list[VideoMatch]:
        words = list(query.words)
        if not words:
            return []
        where, params = video_conditions(query.videos)
        with connections[self.using].cursor() as cursor:
            terms = self._terms(cursor, words, query.videos.tenant_id)
            scores_sql, scores_params = self._video_scores(terms)
            # Every video with a matching track or title is a candidate; only the candidates
            # are joined to their rows, never a scan of the tenant's videos.
            sql = (
                f"WITH scores AS ({scores_sql})"  # noqa: S608 - placeholders and constants only
                f" SELECT v.id, s.score + s.title * {TITLE_SCORE} AS score"
                " FROM scores s JOIN video_video v ON v.id = s.video_id"
                f" WHERE {where} ORDER BY score DESC, v.id DESC LIMIT %s OFFSET %s"
            )
            cursor.execute(sql, [*scores_params, *params, query.videos.limit, max(query.offset, 0)])
            ranked = [(int(r[0]), float(r[1])) for r in cursor.fetchall()]
            hits = self._hits(cursor, terms, [v for v, _ in ranked]) if ranked else {}
        matches = []
        for video_id, score in ranked:
            title = [CueHit(text="")] if score >= TITLE_SCORE else []
            matches.append(VideoMatch(video_id, score, (title + hits.get(video_id, []))[:MAX_HITS]))
        return matches

    def _hits(self, cursor, terms, video_ids: list[int]) -> dict[int, list[CueHit]]:
        """The page's videos' best cues: those holding every word first, then in time order."""
        rows = sorted(self._cue_hits(cursor, terms, video_ids), key=lambda r: (r[0], -r[6], r[3]))
        found: dict[int, list[CueHit]] = {}
        for video_id, group in groupby(rows, key=lambda r: r[0]):
            found[int(video_id)] = [
                CueHit(
                    text=text,
                    start=float(start),
                    end=float(end),
                    track_id=int(track_id),
                    language=language,
                    rank=float(rank),
                )
                for _v, track_id, language, start, end, text, rank in list(group)[:MAX_HITS]
            ]
        return found

    # -- what each database says differently ----------------------------------------------
    def _terms(self, cursor, words: list[str], tenant_id: int) -> Terms:
        """The words as this database's queries take them."""
        raise NotImplementedError

    def _video_scores(self, terms: Terms) -> tuple[str, list[Any]]:
        """A query for rows (video_id, score, title): one per video of the tenant whose title
        (title 1) or a READY track (score > 0 when ranked) holds every word."""
        raise NotImplementedError

    def _cue_hits(self, cursor, terms: Terms, video_ids: list[int]) -> list[tuple]:
        """Rows (video_id, track_id, language, start, end, text, rank) of the videos' cues
        holding any of the words; rank EVERY_WORD or SOME_WORDS."""
        raise NotImplementedError


class PostgresTranscriptSearch(DjangoTranscriptSearch):
    """`document @@ query` on the GIN indexes, through the functions of migration 0003 where a
    word in most rows would make the planner read every tsvector. The query is the words
    parsed with every configuration the tenant's tracks use (OR), so each document matches
    through its own language's stems."""

    def __init__(self, using: str = "default", ranked_tracks: int = RANKED_TRACKS) -> None:
        super().__init__(using)
        self.ranked_tracks = ranked_tracks

    def _terms(self, cursor, words: list[str], tenant_id: int) -> Terms:
        # The configurations the tenant's tracks were indexed with (a few at most).
        cursor.execute(
            "SELECT DISTINCT config FROM captions_captiontracktext WHERE tenant_id = %s",
            [tenant_id],
        )
        return Terms(words, tenant_id, sorted({r[0] for r in cursor.fetchall()} | {SIMPLE}))

    @staticmethod
    def _query(texts: list[str], configs: list[str]) -> tuple[str, list[Any]]:
        """Each text parsed with each configuration, OR-ed: a tsquery expression."""
        parts = " || ".join("plainto_tsquery(%s::regconfig, %s)" for _ in configs for _ in texts)
        return f"({parts})", [p for config in configs for text in texts for p in (config, text)]

    def _video_scores(self, terms: Terms) -> tuple[str, list[Any]]:
        query, params = self._query([" ".join(terms.words)], terms.configs)
        # Every matching track from the GIN index alone; the newest RANKED_TRACKS of them
        # ranked (ts_rank reads the whole tsvector); every matching title.
        return (
            "WITH tracks AS (SELECT track_id, video_id"  # noqa: S608 - placeholders and constants only
            f" FROM captions_track_matches({query}, %s)),"
            " ranked AS (SELECT t.video_id, ts_rank(d.document, q.query) AS score"
            " FROM (SELECT * FROM tracks ORDER BY track_id DESC LIMIT %s) t"
            " JOIN captions_captiontracktext d ON d.track_id = t.track_id,"
            f" (SELECT {query} AS query) q)"
            " SELECT video_id, SUM(score) AS score, MAX(title) AS title FROM ("
            " SELECT video_id, 0 AS score, 0 AS title FROM tracks"
            " UNION ALL SELECT video_id, score, 0 FROM ranked"
            " UNION ALL SELECT video_id, 0, 1 FROM captions_title_matches("
            "plainto_tsquery('simple'::regconfig, %s), %s)) s GROUP BY video_id",
            [
                *params,
                terms.tenant_id,
                self.ranked_tracks,
                *params,
                " ".join(terms.words),
                terms.tenant_id,
            ],
        )

    def _cue_hits(self, cursor, terms: Terms, video_ids: list[int]) -> list[tuple]:
        any_word, any_params = self._query(terms.words, terms.configs)
        every_word, every_params = self._query([" ".join(terms.words)], terms.configs)
        cursor.execute(
            'SELECT c.video_id, c.track_id, c.language, c.start, c."end", c.text,'  # noqa: S608
            f" CASE WHEN c.document @@ {every_word} THEN %s ELSE %s END"
            f" FROM captions_captioncue c WHERE c.document @@ {any_word}"
            " AND c.video_id = ANY(%s)",
            [*every_params, EVERY_WORD, SOME_WORDS, *any_params, video_ids],
        )
        return cursor.fetchall()


class SqliteTranscriptSearch(DjangoTranscriptSearch):
    """FTS5 MATCH on `captions_video_fts` (one row per video: its READY tracks' text, rowid =
    the video's id), `video_title_fts` and `captions_cue_fts`; bm25 ranks (lower is better,
    hence its negation)."""

    @staticmethod
    def _match(words: list[str], operator: str = " ") -> str:
        # Each word a quoted FTS5 string: no operator or column filter can be smuggled in.
        return operator.join(f'"{w}"' for w in words)

    def _terms(self, cursor, words: list[str], tenant_id: int) -> Terms:
        return Terms(words, tenant_id)

    def _video_scores(self, terms: Terms) -> tuple[str, list[Any]]:
        match = self._match(terms.words)
        return (
            "SELECT video_id, SUM(score) AS score, MAX(title) AS title FROM ("
            " SELECT rowid AS video_id, -rank AS score, 0 AS title FROM captions_video_fts"
            " WHERE captions_video_fts MATCH %s UNION ALL"
            " SELECT rowid, 0, 1 FROM video_title_fts WHERE video_title_fts MATCH %s)"
            " GROUP BY video_id",
            [match, match],
        )

    def _cue_hits(self, cursor, terms: Terms, video_ids: list[int]) -> list[tuple]:
        # The page's tracks, each a run of consecutive cue ids (a track's cues are written in
        # one transaction): one MATCH per track within its run, so FTS5 seeks there instead of
        # walking every matching cue (a common word is in ~60 000). No bm25: its weights would
        # make each MATCH read every occurrence of the words.
        marks = ", ".join("%s" for _ in video_ids)
        cursor.execute(
            "SELECT track_id, MIN(id), MAX(id) FROM captions_captioncue"  # noqa: S608
            f" WHERE video_id IN ({marks}) GROUP BY track_id",
            video_ids,
        )
        runs = [(lo, hi) for _track, lo, hi in cursor.fetchall()]
        if not runs:
            return []

        def within_runs(select: str, match: str) -> list[tuple]:
            """`select`'s rows for each run: cue ids (f.rowid) inside it matching `match`."""
            one = f"{select} WHERE captions_cue_fts MATCH %s AND f.rowid BETWEEN %s AND %s"
            cursor.execute(
                " UNION ALL ".join(one for _ in runs),
                [p for lo, hi in runs for p in (match, lo, hi)],
            )
            return cursor.fetchall()

        rows = within_runs(
            'SELECT c.id, c.video_id, c.track_id, c.language, c.start, c."end", c.text'
            " FROM captions_cue_fts f JOIN captions_captioncue c ON c.id = f.rowid",
            self._match(terms.words, " OR "),
        )
        # Only the page's videos' cues (a run holds no other cue unless writes interleaved).
        page = set(video_ids)
        rows = [r for r in rows if r[1] in page]
        every = {r[0] for r in rows}
        if len(terms.words) > 1:
            every &= {
                r[0]
                for r in within_runs(
                    "SELECT f.rowid FROM captions_cue_fts f", self._match(terms.words)
                )
            }
        return [(*r[1:], EVERY_WORD if r[0] in every else SOME_WORDS) for r in rows]


def transcript_search(
    using: str = "default", ranked_tracks: int = RANKED_TRACKS
) -> DjangoTranscriptSearch:
    """The adapter for the database behind `using` (`ranked_tracks`: PostgreSQL's bound)."""
    vendor = connections[using].vendor
    if vendor == "postgresql":
        return PostgresTranscriptSearch(using, ranked_tracks)
    if vendor == "sqlite":
        return SqliteTranscriptSearch(using)
    raise RuntimeError(f"no transcript search for the {vendor} database")
