"""The transcript search on Django's databases: PostgreSQL (tsvector + GIN) and SQLite (FTS5).

The cue rows are plain Django rows (CaptionCue); the full-text columns and tables beside them
are kept in step by the triggers of migration captions 0002. Only `search` differs by
database: which operator matches and how a match is ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

from django.db import connections

from apps.support.captions.models import CaptionCue, CaptionTrack
from src.application.domain import CaptionStatus, Cue, VideoStatus
from src.application.ports.transcript_search import (
    CANDIDATE_CUES,
    MAX_HITS,
    SIMPLE,
    TITLE_SCORE,
    CueHit,
    SearchQuery,
    TranscriptSearch,
    VideoMatch,
    search_config,
)
from src.application.ports.video_repository import VideoFilter


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

    def __init__(self, using: str = "default", candidate_cues: int = CANDIDATE_CUES) -> None:
        self.using = using
        # At most this many matching cues of the tenant, newest (highest id) first, are ranked.
        self.candidate_cues = candidate_cues

    def index_track(
        self, track_id: int, video_id: int, tenant_id: int, language: str, cues: Sequence[Cue]
    ) -> None:
        rows = CaptionCue.objects.using(self.using)
        rows.filter(track_id=track_id).delete()
        config = search_config(language)
        rows.bulk_create(
            CaptionCue(
                track_id=track_id,
                video_id=video_id,
                tenant_id=tenant_id,
                language=language,
                config=config,
                start=c.start,
                end=c.end,
                text=c.text,
            )
            for c in cues
        )

    def remove_track(self, track_id: int) -> None:
        CaptionCue.objects.using(self.using).filter(track_id=track_id).delete()

    def search(self, query: SearchQuery) -> list[VideoMatch]:
        words = list(query.words)
        if not words:
            return []
        where, params = video_conditions(query.videos)
        tenant_id = query.videos.tenant_id
        ranked_sql, ranked_params = self._ranked(words, tenant_id)
        title_sql, title_params = self._title_matches_video(words)
        # Only the bounded candidates are joined to their rows (never a scan of the tenant's);
        # each candidate's title is checked again, so a listed video always has its title score.
        sql = (
            f"WITH {ranked_sql},"  # noqa: S608 - placeholders and constants only
            " candidates AS (SELECT video_id, SUM(score) AS score FROM ("
            " SELECT video_id, score FROM cue_scores UNION ALL"
            " SELECT video_id, 0 AS score FROM title_matches) s GROUP BY video_id)"
            f" SELECT v.id, m.score + CASE WHEN {title_sql} THEN {TITLE_SCORE} ELSE 0 END AS score"
            " FROM candidates m JOIN video_video v ON v.id = m.video_id"
            f" WHERE {where} ORDER BY score DESC, v.id DESC LIMIT %s OFFSET %s"
        )
        params = [*ranked_params, *title_params, *params]
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, [*params, query.videos.limit, max(query.offset, 0)])
            ranked = [(int(r[0]), float(r[1])) for r in cursor.fetchall()]
            hits = self._hits(cursor, words, tenant_id, [v for v, _ in ranked])
        matches = []
        for video_id, score in ranked:
            title = [CueHit(text="")] if score >= TITLE_SCORE else []
            matches.append(VideoMatch(video_id, score, (title + hits.get(video_id, []))[:MAX_HITS]))
        return matches

    def _hits(self, cursor, words: list[str], tenant_id: int, video_ids: list[int]):
        if not video_ids:
            return {}
        sql, params = self._cue_hits(words, tenant_id, video_ids)
        cursor.execute(sql, params)
        found: dict[int, list[CueHit]] = {}
        for video_id, rows in groupby(cursor.fetchall(), key=lambda r: r[0]):
            found[int(video_id)] = [
                CueHit(
                    text=text,
                    start=float(start),
                    end=float(end),
                    track_id=int(track_id),
                    language=language,
                    rank=float(rank),
                )
                for _v, track_id, language, start, end, text, rank in list(rows)[:MAX_HITS]
            ]
        return found

    # -- what each database says differently ----------------------------------------------
    def _ranked(self, words: list[str], tenant_id: int) -> tuple[str, list[Any]]:
        """CTEs `cue_scores(video_id, score)` and `title_matches(video_id)`, both bounded to
        the tenant's `candidate_cues` newest matches."""
        raise NotImplementedError

    def _title_matches_video(self, words: list[str]) -> tuple[str, list[Any]]:
        """A condition on `v`: its title holds every word."""
        raise NotImplementedError

    def _cue_hits(self, words: list[str], tenant_id: int, video_ids: list[int]):
        """Rows (video_id, track_id, language, start, end, text, rank), by video, best first."""
        raise NotImplementedError


class PostgresTranscriptSearch(DjangoTranscriptSearch):
    """`document @@ query` on the GIN index; the query is the words parsed with every
    configuration the tenant's tracks use (OR), so each cue matches through its own
    language's stems."""

    def _configs(self, tenant_id: int) -> list[str]:
        """The configurations the tenant's READY tracks were indexed with (a few at most)."""
        languages = (
            CaptionTrack.objects.using(self.using)
            .filter(tenant_id=tenant_id, status=CaptionStatus.READY)
            .values_list("language", flat=True)
            .distinct()
        )
        return sorted({search_config(language) for language in languages} | {SIMPLE})

    def _query(self, words: list[str], tenant_id: int) -> tuple[str, list[Any]]:
        text = " ".join(words)
        configs = self._configs(tenant_id)
        parts = " || ".join("plainto_tsquery(%s::regconfig, %s)" for _ in configs)
        return f"({parts})", [p for config in configs for p in (config, text)]

    def _ranked(self, words: list[str], tenant_id: int) -> tuple[str, list[Any]]:
        query, params = self._query(words, tenant_id)
        bound = self.candidate_cues
        return (
            f"q AS (SELECT {query} AS query),"  # noqa: S608 - placeholders and constants only
            " cue_scores AS (SELECT video_id, SUM(rank) AS score FROM ("
            " SELECT c.video_id, ts_rank(c.document, q.query) AS rank"
            " FROM captions_captioncue c, q WHERE c.document @@ q.query AND c.tenant_id = %s"
            " ORDER BY c.id DESC LIMIT %s) capped GROUP BY video_id),"
            " title_matches AS (SELECT t.id AS video_id FROM video_video t"
            " WHERE to_tsvector('simple'::regconfig, t.title)"
            " @@ plainto_tsquery('simple'::regconfig, %s) AND t.tenant_id = %s"
            " ORDER BY t.id DESC LIMIT %s)",
            [*params, tenant_id, bound, " ".join(words), tenant_id, bound],
        )

    def _title_matches_video(self, words: list[str]) -> tuple[str, list[Any]]:
        return (
            "to_tsvector('simple'::regconfig, v.title) @@ plainto_tsquery('simple'::regconfig, %s)",
            [" ".join(words)],
        )

    def _cue_hits(self, words: list[str], tenant_id: int, video_ids: list[int]):
        query, params = self._query(words, tenant_id)
        return (
            f"WITH q AS (SELECT {query} AS query)"  # noqa: S608 - placeholders and constants only
            ' SELECT c.video_id, c.track_id, c.language, c.start, c."end", c.text,'
            " ts_rank(c.document, q.query) AS rank FROM captions_captioncue c, q"
            " WHERE c.document @@ q.query AND c.tenant_id = %s AND c.video_id = ANY(%s)"
            " ORDER BY c.video_id, rank DESC, c.start",
            [*params, tenant_id, video_ids],
        )


class SqliteTranscriptSearch(DjangoTranscriptSearch):
    """FTS5 MATCH on `captions_cue_fts` and `video_title_fts`; bm25 ranks (lower is better)."""

    @staticmethod
    def _match(words: list[str]) -> str:
        # Each word a quoted FTS5 string: no operator or column filter can be smuggled in.
        return " ".join(f'"{w}"' for w in words)

    def _ranked(self, words: list[str], tenant_id: int) -> tuple[str, list[Any]]:
        match = self._match(words)
        return (
            "cue_scores AS (SELECT video_id, SUM(rank) AS score FROM ("
            " SELECT c.video_id, -f.rank AS rank"
            " FROM captions_cue_fts f JOIN captions_captioncue c ON c.id = f.rowid"
            " WHERE captions_cue_fts MATCH %s AND c.tenant_id = %s"
            " ORDER BY f.rowid DESC LIMIT %s) capped GROUP BY video_id),"
            " title_matches AS (SELECT t.rowid AS video_id FROM video_title_fts t"
            " JOIN video_video tv ON tv.id = t.rowid WHERE video_title_fts MATCH %s"
            " AND tv.tenant_id = %s ORDER BY t.rowid DESC LIMIT %s)",
            [match, tenant_id, self.candidate_cues, match, tenant_id, self.candidate_cues],
        )

    def _title_matches_video(self, words: list[str]) -> tuple[str, list[Any]]:
        return (
            "v.id IN (SELECT rowid FROM video_title_fts WHERE video_title_fts MATCH %s)",
            [self._match(words)],
        )

    def _cue_hits(self, words: list[str], tenant_id: int, video_ids: list[int]):
        # One MATCH per video within its cues' id range: FTS5 seeks there instead of walking
        # every matching cue of the tenant (a common word is in ~60 000).
        one = (
            'SELECT c.video_id, c.track_id, c.language, c.start, c."end" AS e, c.text,'
            " -f.rank AS r FROM captions_cue_fts f JOIN captions_captioncue c ON c.id = f.rowid"
            " WHERE captions_cue_fts MATCH %s AND c.tenant_id = %s AND c.video_id = %s"
            " AND f.rowid BETWEEN (SELECT MIN(id) FROM captions_captioncue WHERE video_id = %s)"
            " AND (SELECT MAX(id) FROM captions_captioncue WHERE video_id = %s)"
        )
        match = self._match(words)
        return (
            " UNION ALL ".join(one for _ in video_ids) + " ORDER BY 1, 7 DESC, 4",
            [p for v in video_ids for p in (match, tenant_id, v, v, v)],
        )


def transcript_search(
    using: str = "default", candidate_cues: int = CANDIDATE_CUES
) -> DjangoTranscriptSearch:
    """The adapter for the database behind `using`."""
    vendor = connections[using].vendor
    if vendor == "postgresql":
        return PostgresTranscriptSearch(using, candidate_cues)
    if vendor == "sqlite":
        return SqliteTranscriptSearch(using, candidate_cues)
    raise RuntimeError(f"no transcript search for the {vendor} database")
