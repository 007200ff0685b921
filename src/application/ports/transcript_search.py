"""The transcript search port: cues of READY caption tracks indexed for full-text search, and
the ranked search over them and the videos' titles.

One adapter per database (academy/adapters/db/django/transcript_search.py): PostgreSQL stems
with the track's language (a tsvector per cue, GIN index), SQLite with FTS5's porter
tokenizer. Both match every word of the query regardless of case and punctuation.
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
# A title match outranks any transcript: its score is added on top of the cues' score.
TITLE_SCORE = 1_000_000.0
# The bound on ranking: at most this many matching cues (the newest indexed first) are ranked,
# so a word said in every lecture costs as much as one said in 2 000 cues. Title matches are
# not bounded. Beyond the bound a video whose only matching cues are older is not listed.
CANDIDATE_CUES = 2_000

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
        """Make the track's indexed cues exactly `cues` (a new or replaced READY track)."""

    @abc.abstractmethod
    def remove_track(self, track_id: int) -> None:
        """The track is gone or no longer READY: none of its cues match any more."""

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> list[VideoMatch]:
        """Up to `query.videos.limit` of the tenant's videos matching every word in their
        title or in one cue of a READY track, best first from `query.offset`: title matches,
        then by the number and quality of matching cues. A canceled video never matches."""
