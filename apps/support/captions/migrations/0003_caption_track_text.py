"""The per-track search document: one row per READY track with its whole text, on which the
search finds and ranks videos (the cue rows stay, for the hits). Filled from the cue rows
already indexed (they are exactly the READY tracks' cues), then each database's index."""

from django.db import migrations, models
import django.db.models.deletion

from apps.support.captions.search_schema import SQLITE_VIDEO_BACKWARD, SQLITE_VIDEO_FORWARD

# A track's cues in time order, one line each, cut at 300 000 characters as index_track()
# does (MAX_TRACK_TEXT, src/application/ports/transcript_search.py).
MAX_TRACK_TEXT = 300_000
FILL = {
    "postgresql": (
        "INSERT INTO captions_captiontracktext"
        " (track_id, video_id, tenant_id, language, config, text)"
        " SELECT track_id, MIN(video_id), MIN(tenant_id), MIN(language), MIN(config),"
        f" left(string_agg(text, E'\\n' ORDER BY start, id), {MAX_TRACK_TEXT})"
        " FROM captions_captioncue GROUP BY track_id"
    ),
    "sqlite": (
        "INSERT INTO captions_captiontracktext"
        " (track_id, video_id, tenant_id, language, config, text)"
        " SELECT track_id, MIN(video_id), MIN(tenant_id), MIN(language), MIN(config),"
        f" substr(group_concat(text, char(10)), 1, {MAX_TRACK_TEXT})"
        " FROM (SELECT * FROM captions_captioncue ORDER BY track_id, start, id)"
        " GROUP BY track_id"
    ),
}

# PostgreSQL. The text and the tsvector are stored out of line and uncompressed, so the table
# itself stays a few bytes a row: matching reads its rows (a bitmap over the GIN index) and
# ranking fetches a tsvector without inflating it. `document` is set by the cues' trigger
# function (both tables have `config` and `text`).
POSTGRES_FORWARD = [
    "ALTER TABLE captions_captiontracktext ALTER COLUMN text SET STORAGE EXTERNAL",
    "ALTER TABLE captions_captiontracktext ADD COLUMN document tsvector",
    "ALTER TABLE captions_captiontracktext ALTER COLUMN document SET STORAGE EXTERNAL",
    """CREATE TRIGGER captions_track_document BEFORE INSERT OR UPDATE OF text, config
    ON captions_captiontracktext FOR EACH ROW EXECUTE FUNCTION captions_cue_document()""",
    FILL["postgresql"],
    "CREATE INDEX captions_track_document_gin ON captions_captiontracktext USING gin (document)",
    # The tracks and the titles holding every word, from the GIN indexes only. For a word in
    # most rows the planner would rather scan the table and test each row, and each test
    # reads a whole tsvector (or parses a title): 10 000 tracks take ~300 ms that way, ~3 ms
    # through the index. The settings hold inside these functions only.
    # `newest`: the newest so many (NULL: all), highest track id first.
    """CREATE FUNCTION captions_track_matches(query tsquery, tenant bigint, newest bigint)
    RETURNS TABLE (track_id bigint, video_id bigint) LANGUAGE sql STABLE ROWS 10
    SET enable_seqscan = off SET enable_indexscan = off AS $$
        SELECT d.track_id, d.video_id FROM captions_captiontracktext d
        WHERE d.document @@ query AND d.tenant_id = tenant
        ORDER BY d.track_id DESC LIMIT newest $$""",
    """CREATE FUNCTION captions_title_matches(query tsquery, tenant bigint)
    RETURNS TABLE (video_id bigint) LANGUAGE sql STABLE ROWS 10
    SET enable_seqscan = off SET enable_indexscan = off AS $$
        SELECT t.id FROM video_video t
        WHERE to_tsvector('simple'::regconfig, t.title) @@ query AND t.tenant_id = tenant $$""",
]
POSTGRES_BACKWARD = [
    "DROP FUNCTION IF EXISTS captions_title_matches(tsquery, bigint)",
    "DROP FUNCTION IF EXISTS captions_track_matches(tsquery, bigint, bigint)",
    "DROP TRIGGER IF EXISTS captions_track_document ON captions_captiontracktext",
]
# SQLite: the rows first, then the FTS5 table of each video's text filled from them.
SQLITE_FORWARD = [FILL["sqlite"], *SQLITE_VIDEO_FORWARD]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("captions", "0002_caption_cue_search_index"),
        ("video", "0004_video_source_removed_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="CaptionTrackText",
            fields=[
                ("track", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name="+", serialize=False, to="captions.captiontrack")),
                ("video", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="video.video")),
                ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="video.tenant")),
                ("language", models.CharField(blank=True, default="", max_length=16)),
                ("config", models.CharField(default="simple", max_length=32)),
                ("text", models.TextField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "config"], name="caption_text_tenant_config")
                ]
            },
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_VIDEO_BACKWARD}),
        ),
    ]
