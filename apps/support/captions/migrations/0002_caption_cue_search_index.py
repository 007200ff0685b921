"""The transcript search index: one row per cue, and each database's full-text machinery."""

from django.db import migrations, models
import django.db.models.deletion

from apps.support.captions.search_schema import SQLITE_BACKWARD, SQLITE_FORWARD

# PostgreSQL: the tsvector is computed by a trigger with the cue's own configuration (a
# generated column cannot cast text to regconfig: the cast is not immutable).
POSTGRES_FORWARD = [
    "ALTER TABLE captions_captioncue ADD COLUMN document tsvector",
    """CREATE FUNCTION captions_cue_document() RETURNS trigger AS $$
    BEGIN
        NEW.document := to_tsvector(NEW.config::regconfig, NEW.text);
        RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER captions_cue_document BEFORE INSERT OR UPDATE OF text, config
    ON captions_captioncue FOR EACH ROW EXECUTE FUNCTION captions_cue_document()""",
    "CREATE INDEX captions_cue_document_gin ON captions_captioncue USING gin (document)",
    # Titles are matched with the 'simple' configuration (no language is known for them).
    "CREATE INDEX video_title_simple_gin ON video_video"
    " USING gin (to_tsvector('simple'::regconfig, title))",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS video_title_simple_gin",
    "DROP TRIGGER IF EXISTS captions_cue_document ON captions_captioncue",
    "DROP FUNCTION IF EXISTS captions_cue_document()",
]

def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


def backfill(apps, schema_editor):
    """Tracks already READY when the index arrives get their cues indexed."""
    from src.application.ports.transcript_search import search_config

    Track = apps.get_model("captions", "CaptionTrack")
    Cue = apps.get_model("captions", "CaptionCue")
    alias = schema_editor.connection.alias
    for track in Track.objects.using(alias).filter(status="READY").iterator():
        Cue.objects.using(alias).bulk_create(
            Cue(
                track_id=track.id,
                video_id=track.video_id,
                tenant_id=track.tenant_id,
                language=track.language,
                config=search_config(track.language),
                start=float(c["start"]),
                end=float(c["end"]),
                text=str(c["text"]),
            )
            for c in track.cues or []
        )


class Migration(migrations.Migration):
    dependencies = [
        ("captions", "0001_caption_tracks"),
        ("video", "0004_video_source_removed_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="CaptionCue",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("language", models.CharField(blank=True, default="", max_length=16)),
                ("config", models.CharField(default="simple", max_length=32)),
                ("start", models.FloatField()),
                ("end", models.FloatField()),
                ("text", models.TextField()),
                ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="video.tenant")),
                ("track", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="captions.captiontrack")),
                ("video", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="video.video")),
            ],
            options={"indexes": [models.Index(fields=["track"], name="caption_cue_track_idx")]},
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
