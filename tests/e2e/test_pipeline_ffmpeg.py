"""The whole pipeline with real ffmpeg: upload_video -> SQS (moto's server) -> worker -> READY,
and hostile or broken uploads that end FAILED while the worker keeps going."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest

from apps.support.video.models import Video
from bench.harness import ROOT
from src.application.domain import ErrorCode
from src.application.storage_keys import job_output_prefix
from tests.e2e.harness import base_env, worker_args
from tests.media import decodes, make_clip, make_hls_playlist, truncate_copy

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def upload(env: dict[str, str], path, tenant_slug: str) -> int:
    done = subprocess.run(
        [sys.executable, "manage.py", "upload_video", str(path), "--tenant", tenant_slug],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_good_and_hostile_uploads_through_one_worker(
    tmp_path, sqs, spawn, tenant, make_video, db_url, storage_root
):
    clips = tmp_path / "clips"
    clips.mkdir()
    (tmp_path / "elsewhere").mkdir()
    secret = make_clip(tmp_path / "elsewhere" / "other-tenant.ts", seconds=1, tone_hz=1234)
    files = {
        "480p-with-audio": make_clip(clips / "lecture-480.mp4", 854, 480, seconds=2),
        "360p-no-audio": make_clip(clips / "silent.mkv", 640, 360, seconds=2, audio=False),
        "truncated": truncate_copy(
            make_clip(clips / "whole.mp4", seconds=2), clips / "cut.mp4", 0.3
        ),
        "text": clips / "notes.mp4",
        "playlist": make_hls_playlist(clips / "sneaky.mp4", secret),
    }
    files["text"].write_text("this is a text file, not a lecture\n" * 50)
    env = base_env(db_url, sqs, storage_root)
    ids = {name: upload(env, path, tenant.slug) for name, path in files.items()}
    zero = make_video(content=b"")
    sqs.send(zero.pk, tenant.id)
    ids["zero-byte"] = zero.pk

    worker = spawn("worker", worker_args(None, "--exit-when-idle", "6"))
    assert worker.wait(240) == 0, worker.tail()
    rows = {name: Video.objects.get(pk=vid) for name, vid in ids.items()}
    status = {name: (r.status, r.error_code) for name, r in rows.items()}
    assert status == {
        "480p-with-audio": ("READY", ""),
        "360p-no-audio": ("READY", ""),
        "truncated": ("FAILED", ErrorCode.PROBE_FAILED),
        "text": ("FAILED", status["text"][1]),
        "playlist": ("FAILED", ErrorCode.UNSUPPORTED_MEDIA),
        "zero-byte": ("FAILED", ErrorCode.PROBE_FAILED),
    }
    assert status["text"][1] in (ErrorCode.UNSUPPORTED_MEDIA, ErrorCode.PROBE_FAILED)

    good = rows["480p-with-audio"]
    assert [r["name"] for r in good.renditions] == ["480p", "360p"], "never upscale"
    assert (good.width, good.height) == (854, 480)
    assert 1.5 < good.duration_seconds < 2.5
    assert good.hls_key == f"{job_output_prefix(good.media_salt, 1)}/master.m3u8"
    master = storage_root / good.hls_key
    text = master.read_text()
    assert text.count("#EXT-X-STREAM-INF") == 2
    for attr in ("BANDWIDTH=", "RESOLUTION=854x480", "CODECS="):
        assert attr in text
    assert decodes(master).returncode == 0
    assert (storage_root / good.thumbnail_key).read_bytes()[:2] == b"\xff\xd8"

    silent = rows["360p-no-audio"]
    assert [r["name"] for r in silent.renditions] == ["360p"]
    assert "mp4a" not in (storage_root / silent.hls_key).read_text()
    assert decodes(storage_root / silent.hls_key).returncode == 0

    # The crafted playlist never made anything out of the other tenant's file.
    assert not list((storage_root / f"tenants/{tenant.id}/videos/{ids['playlist']}").glob("hls/*"))
    failed = worker.events("VIDEO_PROCESSING_FAILED")
    assert len(failed) == 4
    assert len(worker.events("SQS_JOB_COMPLETED")) == 2
    assert sqs.counts() == (0, 0, 0)
    work_dir = storage_root.parent / "work"
    assert not work_dir.exists() or list(work_dir.iterdir()) == [], "job folders left behind"
    assert worker.problems() == []


def test_pipeline_on_s3_storage(tmp_path, sqs, spawn, tenant, db_url, storage_root, moto_endpoint):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"media-{tenant.id}"
    s3.create_bucket(Bucket=bucket)
    env = base_env(db_url, sqs, storage_root, VIDEO_STORAGE_URL=f"s3://{bucket}/academy")
    clip = make_clip(tmp_path / "lecture.mp4", 640, 360, seconds=2)
    vid = upload(env, clip, tenant.slug)
    worker = spawn(
        "worker",
        worker_args(None, "--max-messages", "1"),
        VIDEO_STORAGE_URL=f"s3://{bucket}/academy",
    )
    assert worker.wait(120) == 0, worker.tail()
    video = Video.objects.get(pk=vid)
    assert video.status == "READY", worker.tail()
    keys = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    assert f"academy/{video.source_key}" in keys
    assert f"academy/{video.hls_key}" in keys
    assert any(k.endswith(".ts") or k.endswith(".m4s") for k in keys)
    head = s3.head_object(Bucket=bucket, Key=f"academy/{video.hls_key}")
    assert head["ContentType"] == "application/vnd.apple.mpegurl"
    local = tmp_path / "download"
    for key in keys:
        if key.startswith(f"academy/{video.hls_key.rsplit('/', 1)[0]}/"):
            target = local / key
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
    assert decodes(local / f"academy/{video.hls_key}").returncode == 0
