"""The seed's own check: two claims through `manage.py shell` on a fresh SQLite database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from academy.config import DEVELOPMENT_ENV

ROOT = Path(__file__).resolve().parents[2]

SEED_VIDEO = (
    "from apps.support.video.models import Tenant, Video; "
    "t = Tenant.objects.create(slug='seed-academy', name='Seed academy'); "
    "Video.objects.create(pk=1, tenant=t, title='seed', status='UPLOADED')"
)
TWO_CLAIMS = (
    "from academy.adapters.db.django.repositories_video import DjangoVideoRepository; "
    "repo=DjangoVideoRepository(); "
    "a=repo.try_claim_video(1,'worker-a'); "
    "b=repo.try_claim_video(1,'worker-b'); "
    "print(bool(a), bool(b))"
)


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"manage.py {args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_manage_shell_two_claims_one_wins(tmp_path: Path):
    db_file = tmp_path / "seed.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "VIDEO_"))}
    env.update(DEVELOPMENT_ENV)
    env.update(DJANGO_SETTINGS_MODULE="academy.settings", DATABASE_URL=f"sqlite:///{db_file}")

    _manage(env, "migrate", "--noinput")
    _manage(env, "shell", "-c", SEED_VIDEO)
    proc = _manage(env, "shell", "-c", TWO_CLAIMS)

    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    assert lines[-1:] == ["True False"], proc.stdout
    with sqlite3.connect(db_file) as db:
        row = db.execute(
            "SELECT status, leased_by, lease_token, attempts FROM video_video WHERE id = 1"
        ).fetchone()
    assert row == ("PROCESSING", "worker-a", 1, 1)
