"""The transcript search on Django's databases: PostgreSQL (tsvector + GIN) and SQLite (FTS5).

Two indexes, both plain Django rows with full-text columns or tables beside them kept in step
by triggers (migrations captions 0002 and 0003): each READY track's whole text
(CaptionTrackText), on which one query finds and ranks every matching video, and each of its
cues (CaptionCue), read only for the hits of the page's videos. Only the SQL differs by
database: which operator matches, how a match is ranked, and how the page's cues are found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from django.db import connections

from apps.support.captions.models import CaptionCue, CaptionTrackText
from src.application.domain import Cue, VideoStatus
from src.application.ports.transcript_search import (
    MAX_HITS,
    RANKED_MATCHES,
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


@dataclass(frozen=True)
class Terms:
    """A query's words and, on PostgreSQL, the text search configurations to parse them with."""

    words: list[str]
    tenant_id: int
    configs: list[str] = field(default_factory=list)


Where = tuple[str, list[Any]]


def video_conditions(videos: VideoFilter) -> Where:
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

    def __init__(self, using: str = "default", ranked: int = RANKED_MATCHES) -> None:
        self.using = using
        self.ranked = ranked  # the bound on ranking (RANKED_MATCHES)

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
        """Four tiers, each read only when the page reaches it (a common word's first page
        reads the first alone): the ranked videos whose title matches, by score; the other
        title matches, newest first; the other ranked videos, by score; every other match,
        newest first. The ranked videos are those of the tenant's newest RANKED_MATCHES
        matching tracks (PostgreSQL) or videos (SQLite)."""
        words = list(query.words)
        if not words:
            return []
        where = video_conditions(query.videos)
        skip, need = max(query.offset, 0), query.videos.limit
        page: list[tuple[int, float]] = []
        with connections[self.using].cursor() as cursor:
            terms = self._terms(cursor, words, query.videos.tenant_id)
            ranked = self._ranked(cursor, terms, where)
            ranked.sort(key=lambda r: (-r[1], -r[0]))
            others = [r[0] for r in ranked]
            tiers = [
                [(v, TITLE_SCORE + score) for v, score, title in ranked if title],
                lambda: self._titles(terms, where, others),
                [(v, score) for v, score, title in ranked if not title],
                lambda: self._rest(terms, where, others),
            ]
            for tier in tiers:
                if len(page) == need:
                    break
                if isinstance(tier, list):
                    page += tier[skip : skip + need - len(page)]
                    skip = max(0, skip - len(tier))
                else:
                    rows, skip = self._slice(cursor, *tier(), skip, need - len(page))
                    page += rows
            hits = self._hits(cursor, terms, [v for v, _ in page]) if page else {}
        matches = []
        for video_id, score in page:
            title = [CueHit(text="")] if score >= TITLE_SCORE else []
            matches.append(VideoMatch(video_id, score, (title + hits.get(video_id, []))[:MAX_HITS]))
        return matches

    @staticmethod
    def _slice(cursor, sql: str, params: list[Any], skip: int, need: int):
        """Rows (video_id, score) of a tier's query from `skip`, at most `need`, and what is
        left to skip in the next tier (a count only when the whole tier was skipped)."""
        cursor.execute(f"{sql} LIMIT %s OFFSET %s", [*params, need, skip])
        rows = [(int(r[0]), float(r[1])) for r in cursor.fetchall()]
        if rows or not skip:
            return rows, 0
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) tier", params)  # noqa: S608
        return [], max(0, skip - int(cursor.fetchone()[0]))

    def _hits(self, cursor, terms, video_ids: list[int]) -> dict[int, list[CueHit]]:
        """The page's videos' best cues: those holding the most words first, then in time
        order."""
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

    def _ranked(self, cursor, terms: Terms, where: Where) -> list[tuple[int, float, bool]]:
        """(video_id, score, title matches) of the videos passing `where` among the tenant's
        newest RANKED_MATCHES matching tracks or videos."""
        raise NotImplementedError

    def _titles(self, terms: Terms, where: Where, others: list[int]) -> tuple[str, list[Any]]:
        """A query for (video_id, score) of the title matches passing `where` but not in
        `others`, newest first."""
        raise NotImplementedError

    def _rest(self, terms: Terms, where: Where, others: list[int]) -> tuple[str, list[Any]]:
        """A query for (video_id, score) of the videos passing `where` with a matching track,
        neither a title match nor in `others`, newest first."""
        raise NotImplementedError

    def _cue_hits(self, cursor, terms: Terms, video_ids: list[int]) -> list[tuple]:
        """Rows (video_id, track_id, language, start, end, text, rank) of the videos' cues
        holding any of the words; rank: how many of the words the cue holds."""
        raise NotImplementedError


# PostgreSQL: whether `v`'s title holds every word (the words a parameter).
_TITLE_MATCHES = (
    "to_tsvector('simple'::regconfig, v.title) @@ plainto_tsquery('simple'::regconfig, %s)"
)


class PostgresTranscriptSearch(DjangoTranscriptSearch):
    """`document @@ query` on the GIN indexes, through the functions of migration 0003 where a
    word in most rows would make the planner read every tsvector. The query is the words
    parsed with every configuration the tenant's tracks use (OR), so each document matches
    through its own language's stems."""

    def _terms(self, cursor, words: list[str], tenant_id: int) -> Terms:
        # The configurations the tenant's tracks were indexed with (a few at most), one
        # probe of the (tenant, config) index each rather than a read of every track.
        cursor.execute(
            "WITH RECURSIVE c AS ((SELECT config FROM captions_captiontracktext"
            " WHERE tenant_id = %s ORDER BY config LIMIT 1) UNION ALL"
            " SELECT (SELECT config FROM captions_captiontracktext"
            " WHERE tenant_id = %s AND config > c.config ORDER BY config LIMIT 1)"
            " FROM c WHERE c.config IS NOT NULL) SELECT config FROM c WHERE config IS NOT NULL",
            [tenant_id, tenant_id],
        )
        return Terms(words, tenant_id, sorted({r[0] for r in cursor.fetchall()} | {SIMPLE}))

    @staticmethod
    def _query(texts: list[str], configs: list[str]) -> tuple[str, list[Any]]:
        """Each text parsed with each configuration, OR-ed: a tsquery expression."""
        parts = " || ".join("plainto_tsquery(%s::regconfig, %s)" for _ in configs for _ in texts)
        return f"({parts})", [p for config in configs for text in texts for p in (config, text)]

    def _ranked(self, cursor, terms: Terms, where: Where) -> list[tuple[int, float, bool]]:
        query, params = self._query([" ".join(terms.words)], terms.configs)
        conditions, condition_params = where
        cursor.execute(
            "WITH tracks AS (SELECT track_id, video_id"  # noqa: S608 - placeholders and constants only
            f" FROM captions_track_matches({query}, %s, %s)),"
            " scores AS (SELECT t.video_id, SUM(ts_rank(d.document, q.query)) AS score"
            " FROM tracks t JOIN captions_captiontracktext d ON d.track_id = t.track_id,"
            f" (SELECT {query} AS query) q GROUP BY t.video_id)"
            f" SELECT v.id, s.score, {_TITLE_MATCHES}"
            f" FROM scores s JOIN video_video v ON v.id = s.video_id WHERE {conditions}",
            [
                *params,
                terms.tenant_id,
                self.ranked,
                *params,
                " ".join(terms.words),
                *condition_params,
            ],
        )
        return [(int(v), float(score), bool(title)) for v, score, title in cursor.fetchall()]

    def _titles(self, terms: Terms, where: Where, others: list[int]) -> tuple[str, list[Any]]:
        conditions, condition_params = where
        return (
            f"SELECT v.id, {TITLE_SCORE} FROM captions_title_matches("  # noqa: S608
            "plainto_tsquery('simple'::regconfig, %s), %s) t"
            f" JOIN video_video v ON v.id = t.video_id WHERE {conditions} AND v.id <> ALL(%s)"
            " ORDER BY v.id DESC",
            [" ".join(terms.words), terms.tenant_id, *condition_params, others],
        )

    def _rest(self, terms: Terms, where: Where, others: list[int]) -> tuple[str, list[Any]]:
        query, params = self._query([" ".join(terms.words)], terms.configs)
        conditions, condition_params = where
        return (
            "SELECT v.id, 0 FROM (SELECT DISTINCT video_id"  # noqa: S608
            f" FROM captions_track_matches({query}, %s, NULL)) m"
            " JOIN video_video v ON v.id = m.video_id"
            f" WHERE {conditions} AND v.id <> ALL(%s) AND NOT {_TITLE_MATCHES} ORDER BY v.id DESC",
            [*params, terms.tenant_id, *condition_params, others, " ".join(terms.words)],
        )

    def _cue_hits(self, cursor, terms: Terms, video_ids: list[int]) -> list[tuple]:
        each = [self._query([word], terms.configs) for word in dict.fromkeys(terms.words)]
        held = " + ".join(f"(c.document @@ {query})::int" for query, _ in each)
        any_word, params = self._query(terms.words, terms.configs)
        cursor.execute(
            'SELECT c.video_id, c.track_id, c.language, c.start, c."end", c.text,'  # noqa: S608
            f" {held} FROM captions_captioncue c WHERE c.document @@ {any_word}"
            " AND c.video_id = ANY(%s)",
            [*(p for _, word_params in each for p in word_params), *params, video_ids],
        )
        return cursor.fetchall()


# SQLite: the ids of the videos whose title holds every word (the FTS5 query a parameter).
_TITLE_IDS = "SELECT rowid FROM video_title_fts WHERE video_title_fts MATCH %s"


def _not_in(ids: list[int]) -> str:
    """SQLite: `AND v.id NOT IN (…)` with a placeholder per id (nothing for no ids)."""
    return f" AND v.id NOT IN ({', '.join('%s' for _ in ids)})" if ids else ""


class SqliteTranscriptSearch(DjangoTranscriptSearch):
    """FTS5 MATCH on `captions_video_fts` (one row per video: its READY tracks' text, rowid =
    the video's id), `video_title_fts` and `captions_cue_fts`; bm25 ranks (lower is better,
    hence its negation). Every join drives from the FTS5 table (CROSS JOIN: SQLite keeps that
    order), never from the rows: the other way round runs the MATCH once per row."""

    @staticmethod
    def _match(words: list[str], operator: str = " ") -> str:
        # Each word a quoted FTS5 string: no operator or column filter can be smuggled in.
        return operator.join(f'"{w}"' for w in words)

    def _terms(self, cursor, words: list[str], tenant_id: int) -> Terms:
        return Terms(words, tenant_id)

    def _ranked(self, cursor, terms: Terms, where: Where) -> list[tuple[int, float, bool]]:
        # bm25 over the rowid range of the tenant's newest matches (FTS5 walks the word's
        # occurrences newest first and seeks to the range); other tenants' rows in the range
        # are dropped by `where`.
        match = self._match(terms.words)
        conditions, condition_params = where
        cursor.execute(
            "WITH newest AS (SELECT f.rowid AS id FROM captions_video_fts f"  # noqa: S608
            " CROSS JOIN video_video t ON t.id = f.rowid WHERE captions_video_fts MATCH %s"
            " AND t.tenant_id = %s ORDER BY f.rowid DESC LIMIT %s),"
            " scores AS (SELECT rowid AS video_id, -rank AS score FROM captions_video_fts"
            " WHERE captions_video_fts MATCH %s AND rowid >= (SELECT MIN(id) FROM newest))"
            f" SELECT v.id, s.score, v.id IN ({_TITLE_IDS})"
            f" FROM scores s CROSS JOIN video_video v ON v.id = s.video_id WHERE {conditions}",
            [match, terms.tenant_id, self.ranked, match, match, *condition_params],
        )
        return [(int(v), float(score), bool(title)) for v, score, title in cursor.fetchall()]

    def _titles(self, terms: Terms, where: Where, others: list[int]) -> tuple[str, list[Any]]:
        conditions, condition_params = where
        return (
            f"SELECT v.id, {TITLE_SCORE} FROM video_title_fts t"  # noqa: S608
            " CROSS JOIN video_video v ON v.id = t.rowid WHERE video_title_fts MATCH %s"
            f" AND {conditions}{_not_in(others)} ORDER BY t.rowid DESC",
            [self._match(terms.words), *condition_params, *others],
        )

    def _rest(self, terms: Terms, where: Where, others: list[int]) -> tuple[str, list[Any]]:
        match = self._match(terms.words)
        conditions, condition_params = where
        return (
            "SELECT v.id, 0 FROM captions_video_fts f"  # noqa: S608
            " CROSS JOIN video_video v ON v.id = f.rowid WHERE captions_video_fts MATCH %s"
            f" AND {conditions}{_not_in(others)} AND v.id NOT IN ({_TITLE_IDS})"
            " ORDER BY f.rowid DESC",
            [match, *condition_params, *others, match],
        )

    def _cue_hits(self, cursor, terms: Terms, video_ids: list[int]) -> list[tuple]:
        # The page's tracks, each a run of consecutive cue ids (a track's cues are written in
        # one transaction): each MATCH stays within a run, so FTS5 seeks there instead of
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

        # One MATCH per word and run: how many words each cue holds is how many arms name it.
        words = list(dict.fromkeys(terms.words))
        one = (
            "SELECT f.rowid FROM captions_cue_fts f WHERE captions_cue_fts MATCH %s"
            " AND f.rowid BETWEEN %s AND %s"
        )
        cursor.execute(
            " UNION ALL ".join(one for _ in words for _ in runs),
            [p for word in words for lo, hi in runs for p in (self._match([word]), lo, hi)],
        )
        held = Counter(r[0] for r in cursor.fetchall())
        if not held:
            return []
        marks = ", ".join("%s" for _ in held)
        cursor.execute(
            'SELECT id, video_id, track_id, language, start, "end", text'  # noqa: S608
            f" FROM captions_captioncue WHERE id IN ({marks})",
            list(held),
        )
        # Only the page's videos' cues (a run holds no other cue unless writes interleaved).
        page = set(video_ids)
        return [(*r[1:], held[r[0]]) for r in cursor.fetchall() if r[1] in page]


def transcript_search(
    using: str = "default", ranked: int = RANKED_MATCHES
) -> DjangoTranscriptSearch:
    """The adapter for the database behind `using` (`ranked`: the bound on ranking)."""
    vendor = connections[using].vendor
    if vendor == "postgresql":
        return PostgresTranscriptSearch(using, ranked)
    if vendor == "sqlite":
        return SqliteTranscriptSearch(using, ranked)
    raise RuntimeError(f"no transcript search for the {vendor} database")
