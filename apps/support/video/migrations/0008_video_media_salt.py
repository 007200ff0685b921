"""Every video gets its own secret media salt: new claims write their outputs under
`media/{video folder}/{claim folder}/`, derived from it (storage_keys.job_output_prefix).

Each existing row gets its own random value (a callable default on AddField would be evaluated
once and shared by every row). Outputs published before keep their `tenants/…/hls/N/` keys:
their rows' hls_key still names them, they are served and cleaned up as before."""

from django.db import migrations, models

import src.application.storage_keys


def give_media_salts(apps, schema_editor):
    Video = apps.get_model("video", "Video")
    for pk in Video.objects.filter(media_salt="").values_list("pk", flat=True).iterator():
        Video.objects.filter(pk=pk).update(
            media_salt=src.application.storage_keys.new_media_salt()
        )


class Migration(migrations.Migration):
    dependencies = [("video", "0007_video_captions_requested_at")]

    operations = [
        migrations.AddField(
            model_name="video",
            name="media_salt",
            field=models.CharField(default="", editable=False, max_length=64),
        ),
        migrations.RunPython(give_media_salts, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="video",
            name="media_salt",
            field=models.CharField(
                default=src.application.storage_keys.new_media_salt,
                editable=False,
                max_length=64,
            ),
        ),
    ]
