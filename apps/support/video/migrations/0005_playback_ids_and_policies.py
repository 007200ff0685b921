"""Every video gets an unguessable playback id and a playback policy (signed by default)."""

from django.db import migrations, models

import src.application.domain.playback


def give_playback_ids(apps, schema_editor):
    Video = apps.get_model("video", "Video")
    for video in Video.objects.filter(playback_id__isnull=True).only("pk").iterator():
        Video.objects.filter(pk=video.pk).update(
            playback_id=src.application.domain.playback.new_playback_id()
        )


class Migration(migrations.Migration):
    dependencies = [("video", "0004_video_source_removed_at")]

    operations = [
        migrations.AddField(
            model_name="video",
            name="playback_id",
            field=models.CharField(max_length=32, null=True),
        ),
        migrations.RunPython(give_playback_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="video",
            name="playback_id",
            field=models.CharField(
                default=src.application.domain.playback.new_playback_id,
                max_length=32,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="video",
            name="playback_policy",
            field=models.CharField(
                choices=[("signed", "signed"), ("public", "public")],
                default="signed",
                max_length=8,
            ),
        ),
    ]
