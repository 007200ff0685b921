"""The transcript search port: READY caption tracks indexed for full-text search (each track's
whole text, and each of its cues), and the ranked search over them and the videos' titles.

A video matches when its title, or one READY track's text, holds every word of the query
(regardless of case and punctuation; the words may be in different cues: a cue is a few
seconds of speech, and a phrase often spans two). Its hits are the cues holding any of the
words, those holding the most words first.

One adapter per database (academy/adapters/db/django/transcript_search.py): PostgreSQL stems
with the track's language (tsvectors, GIN indexes), SQLite with FTS5's porter tokenizer.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from src.application.domain import Cue
from src.application.ports.video_repository import VideoFilter

# The best cues shown per video, and how many words of a query count (the rest are dropped).
MAX_HITS = 5
MAX_QUERY_WORDS = 8
MAX_QUERY_LENGTH = 200
# A title match outranks any transcript: its score is added on top of the transcript's.
TITLE_SCORE = 1_000_000.0
# The bound on ranking: a search ranks by relevance the tenant's newest RANKED_MATCHES matching
# tracks (PostgreSQL: ts_rank reads a track's whole tsvector, ~10 µs apiece) or videos (SQLite:
# bm25), so a word said in 10 000 lectures costs about what one said in 500 does. Every match is
# still listed: the ranked title matches by score, the other title matches newest first, the
# other ranked videos by score, then every other match newest first.
RANKED_MATCHES = 500

# A track's search document is its cues' text, one line each, cut at this many characters
# (five hours of speech or more; even words all different stay under the 1 MB PostgreSQL
# allows a tsvector).
MAX_TRACK_TEXT = 300_000

_WORD = re.compile(r"\w+", re.UNICODE)

# PostgreSQL's built-in text search configurations, by the primary language subtag; any other
# language (or none) is indexed with 'simple' (lower-cased words, no stemming).
SEARCH_CONFIGS = {
    "ar": "arabic",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "hu": "hungarian",
    "id": "indonesian",
    "it": "italian",
    "nl": "dutch",
    "no": "norwegian",
    "nb": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
}
SIMPLE = "simple"


def search_config(language: str) -> str:
    """The text search configuration for a track's language ("pt-BR" -> "portuguese")."""
    return SEARCH_CONFIGS.get(language.split("-", 1)[0].lower(), SIMPLE)


def query_words(text: str) -> list[str]:
    """The words of a query, lower-cased, punctuation dropped; at most MAX_QUERY_WORDS."""
    return [w.casefold() for w in _WORD.findall(text)][:MAX_QUERY_WORDS]


def track_text(cues: Sequence[Cue]) -> str:
    """The text a track is found and ranked by: its cues' text, one line each."""
    return "\n".join(c.text for c in cues)[:MAX_TRACK_TEXT]


@dataclass(frozen=True)
class CueHit:
    """One matching cue; a title match has no track and no times."""

    text: str
    start: float | None = None
    end: float | None = None
    track_id: int | None = None
    language: str = ""
    rank: float = 0.0


@dataclass(frozen=True)
class VideoMatch:
    video_id: int
    score: float
    hits: list[CueHit] = field(default_factory=list)  # best first, at most MAX_HITS


@dataclass(frozen=True)
class SearchQuery:
    words: Sequence[str]
    videos: VideoFilter  # the tenant and the list's other filters (its before_id is unused)
    offset: int = 0


class TranscriptSearch(abc.ABC):
    """Index writes happen in the caller's transaction, beside the track's own change."""

    @abc.abstractmethod
    def index_track(
        self, track_id: int, video_id: int, tenant_id: int, language: str, cues: Sequence[Cue]
    ) -> None:
        """Make the track's indexed text and cues exactly `cues` (a new or replaced READY
        track)."""

    @abc.abstractmethod
    def remove_track(self, track_id: int) -> None:
        """The track is gone or no longer READY: neither it nor its cues match any more."""

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> list[VideoMatch]:
        """Up to `query.videos.limit` of the tenant's videos whose title or one READY track
        holds every word, best first from `query.offset`: title matches, then by how often and
        how well their transcripts say the words (within the RANKED_MATCHES bound; past it,
        newest first); each with up to MAX_HITS cues holding any of the words, the most words
        first, then in time order. A canceled video never matches."""
