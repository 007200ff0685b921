from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ('video', '0006_video_caption_language'),
    ]

    operations = [
        migrations.AddField(
            model_name='video',
            name='captions_requested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
