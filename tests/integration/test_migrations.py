"""The committed migrations describe the models exactly: a deploy never meets a surprise."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_without_a_migration():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_existing_videos_each_get_their_own_media_salt():
    """0008 gives every row its own random salt (a default on AddField would give them all
    one): their output folders, derived from it, must not be linkable to each other."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("video", "0007_video_captions_requested_at")]
    after = [("video", "0008_video_media_salt")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        tenant = old.get_model("video", "Tenant").objects.create(slug="m", name="m")
        Video = old.get_model("video", "Video")
        ids = [Video.objects.create(tenant_id=tenant.pk, playback_id=f"p{i}").pk for i in range(3)]
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("video", "Video")
    salts = list(new.objects.filter(pk__in=ids).values_list("media_salt", flat=True))
    assert len(salts) == 3 and len(set(salts)) == 3
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in salts)
