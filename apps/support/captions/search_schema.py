"""SQLite's full-text tables for the transcript search and the triggers that keep them in step.

Migration captions 0002 creates the cues' and the titles' tables, 0003 the videos'. SQLite
drops a table's triggers when Django remakes the table (many ALTERs on SQLite copy it to a new
one), so after every `migrate`
`ensure_sqlite_search_index` puts back any trigger that is missing and rebuilds the table it
feeds from the rows (apps.py connects it to post_migrate).
"""

from __future__ import annotations

# SQLite: FTS5 tables whose rowid is the cue's (or the video's) id, kept in step by triggers.
# porter stems English words; unicode61 folds case and, with remove_diacritics, accents.
SQLITE_TOKENIZE = "porter unicode61 remove_diacritics 2"
SQLITE_FORWARD = [
    f"CREATE VIRTUAL TABLE captions_cue_fts USING fts5(text, tokenize='{SQLITE_TOKENIZE}')",
    """CREATE TRIGGER captions_cue_fts_insert AFTER INSERT ON captions_captioncue BEGIN
        INSERT INTO captions_cue_fts(rowid, text) VALUES (new.id, new.text); END""",
    """CREATE TRIGGER captions_cue_fts_delete AFTER DELETE ON captions_captioncue BEGIN
        DELETE FROM captions_cue_fts WHERE rowid = old.id; END""",
    """CREATE TRIGGER captions_cue_fts_update AFTER UPDATE OF text ON captions_captioncue BEGIN
        UPDATE captions_cue_fts SET text = new.text WHERE rowid = old.id; END""",
    f"CREATE VIRTUAL TABLE video_title_fts USING fts5(title, tokenize='{SQLITE_TOKENIZE}')",
    "INSERT INTO video_title_fts(rowid, title) SELECT id, title FROM video_video",
    """CREATE TRIGGER video_title_fts_insert AFTER INSERT ON video_video BEGIN
        INSERT INTO video_title_fts(rowid, title) VALUES (new.id, new.title); END""",
    """CREATE TRIGGER video_title_fts_delete AFTER DELETE ON video_video BEGIN
        DELETE FROM video_title_fts WHERE rowid = old.id; END""",
    """CREATE TRIGGER video_title_fts_update AFTER UPDATE OF title ON video_video BEGIN
        UPDATE video_title_fts SET title = new.title WHERE rowid = old.id; END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS video_title_fts_insert",
    "DROP TRIGGER IF EXISTS video_title_fts_delete",
    "DROP TRIGGER IF EXISTS video_title_fts_update",
    "DROP TABLE IF EXISTS video_title_fts",
    "DROP TRIGGER IF EXISTS captions_cue_fts_insert",
    "DROP TRIGGER IF EXISTS captions_cue_fts_delete",
    "DROP TRIGGER IF EXISTS captions_cue_fts_update",
    "DROP TABLE IF EXISTS captions_cue_fts",
]

# Migration 0003: one row per video holding its READY tracks' text (CaptionTrackText rows,
# one line each), rowid = the video's id, so a search ranks videos without a join. Each
# trigger on a track's row rewrites its video's row from all of the video's tracks.
_VIDEO_TEXT = (
    "SELECT video_id, group_concat(text, char(10)) FROM captions_captiontracktext"
    " WHERE video_id = {video} GROUP BY video_id"
)


def _rewrite_video(video: str) -> str:
    """Trigger statements rewriting the row of the video `video` names (new.… or old.…)."""
    return (
        f"DELETE FROM captions_video_fts WHERE rowid = {video};"  # noqa: S608 - constants only
        f" INSERT INTO captions_video_fts(rowid, text) {_VIDEO_TEXT.format(video=video)};"
    )


SQLITE_VIDEO_FORWARD = [
    f"CREATE VIRTUAL TABLE captions_video_fts USING fts5(text, tokenize='{SQLITE_TOKENIZE}')",
    "INSERT INTO captions_video_fts(rowid, text) SELECT video_id, group_concat(text, char(10))"
    " FROM captions_captiontracktext GROUP BY video_id",
    f"""CREATE TRIGGER captions_video_fts_insert AFTER INSERT ON captions_captiontracktext
    BEGIN {_rewrite_video("new.video_id")} END""",
    f"""CREATE TRIGGER captions_video_fts_delete AFTER DELETE ON captions_captiontracktext
    BEGIN {_rewrite_video("old.video_id")} END""",
    f"""CREATE TRIGGER captions_video_fts_update AFTER UPDATE OF text, video_id
    ON captions_captiontracktext
    BEGIN {_rewrite_video("old.video_id")} {_rewrite_video("new.video_id")} END""",
]
SQLITE_VIDEO_BACKWARD = [
    "DROP TRIGGER IF EXISTS captions_video_fts_insert",
    "DROP TRIGGER IF EXISTS captions_video_fts_delete",
    "DROP TRIGGER IF EXISTS captions_video_fts_update",
    "DROP TABLE IF EXISTS captions_video_fts",
]

# Each FTS table (its triggers' names start with it) and how to fill it from its source rows.
_REBUILD = {
    "captions_cue_fts": (
        "INSERT INTO captions_cue_fts(rowid, text) SELECT id, text FROM captions_captioncue"
    ),
    "video_title_fts": (
        "INSERT INTO video_title_fts(rowid, title) SELECT id, title FROM video_video"
    ),
    "captions_video_fts": SQLITE_VIDEO_FORWARD[1],
}


def ensure_sqlite_search_index(connection) -> list[str]:
    """On SQLite: re-create missing search triggers and rebuild their FTS tables; the names of
    the tables rebuilt (none when all was in place; a table not made yet is left alone)."""
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {name for name, _type in cursor.fetchall()}
        rebuilt = []
        for sql in SQLITE_FORWARD + SQLITE_VIDEO_FORWARD:
            if not sql.startswith("CREATE TRIGGER"):
                continue
            name = sql.split()[2]
            table = next(t for t in _REBUILD if name.startswith(t))
            if name in present or table not in present:  # in place, or before its migration
                continue
            cursor.execute(sql)
            if table not in rebuilt:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a constant name
                cursor.execute(_REBUILD[table])
                rebuilt.append(table)
        return rebuilt
