"""manage.py upload_video against real PostgreSQL, moto's SQS/S3 server and local storage:
in-process through call_command, and as a real subprocess."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from academy import bootstrap as bootstrap_module
from academy.config import DEVELOPMENT_ENV
from apps.support.video.models import Tenant, Video
from src.application.storage_keys import source_key
from src.infrastructure.storage.local_storage import LocalStorage

ROOT = Path(__file__).resolve().parents[2]
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    port = closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class Queue:
    """A fresh SQS queue on moto's server, read the way a worker would."""

    def __init__(self, endpoint: str) -> None:
        self.client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        self.name = f"upload-test-{uuid.uuid4().hex[:10]}"
        self.url = self.client.create_queue(QueueName=self.name)["QueueUrl"]

    def drain(self) -> list[dict]:
        messages = []
        while True:
            batch = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return messages
            messages += batch


@pytest.fixture
def queue(moto_url, monkeypatch):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    q = Queue(moto_url)
    yield q
    q.client.delete_queue(QueueUrl=q.url)


@pytest.fixture
def media(tmp_path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def config(settings, moto_url, queue, media):
    """settings.CONFIG pointed at moto and a temporary media root; call it to override more."""
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        storage_url=f"file://{media}",
        aws_endpoint_url=moto_url,
        aws_region="us-east-1",
        sqs_queue_url="",
        sqs_queue_name=queue.name,
    )

    def override(**changes):
        settings.CONFIG = dataclasses.replace(settings.CONFIG, **changes)

    return override


@pytest.fixture
def tenant():
    return Tenant.objects.create(slug="physics-academy", name="Physics Academy")


@pytest.fixture
def video_file(tmp_path) -> Path:
    path = tmp_path / "in" / "lecture.mp4"
    path.parent.mkdir()
    path.write_bytes(VIDEO_BYTES)
    return path


def upload(*args: str) -> tuple[int, str, str]:
    """Run the command in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("upload_video", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def assert_nothing_created(media: Path, queue: Queue, tenants: int = 1) -> None:
    assert Video.objects.count() == 0
    assert Tenant.objects.count() == tenants
    assert stored_files(media) == []
    assert queue.drain() == []


def assert_uploaded(video_id: int, tenant: Tenant, media: Path, queue: Queue, name: str):
    video = Video.objects.get(pk=video_id)
    assert video.status == Video.Status.UPLOADED
    assert video.tenant_id == tenant.pk
    assert video.source_key == source_key(tenant.pk, video.pk, name)
    assert (media / video.source_key).read_bytes() == VIDEO_BYTES
    assert stored_files(media) == [media / video.source_key]
    messages = queue.drain()
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert set(body) == {"video_id", "tenant_id", "request_id"}
    assert (body["video_id"], body["tenant_id"]) == (video.pk, tenant.pk)
    assert uuid.UUID(body["request_id"]).version == 4
    return video, messages[0]


# -- in-process ------------------------------------------------------------------------------


def test_upload_stores_records_and_enqueues_once(config, tenant, video_file, media, queue):
    code, out, err = upload(str(video_file), "--tenant", tenant.slug, "--trace-id", "trace-42")
    assert code == 0, err
    video_id = int(out.splitlines()[-1])
    video, message = assert_uploaded(video_id, tenant, media, queue, "lecture.mp4")
    assert video.title == "lecture"
    assert message["MessageAttributes"]["trace_id"]["StringValue"] == "trace-42"
    assert f"video {video_id} uploaded to {media.resolve()}" in err


def test_hostile_file_name_is_sanitised_in_the_key(config, tenant, tmp_path, media, queue):
    path = tmp_path / "..  my lecture (final);rm -rf.mp4"
    path.write_bytes(VIDEO_BYTES)
    code, out, err = upload(str(path), "--tenant", tenant.slug, "--title", "Week 1")
    assert code == 0, err
    video, _ = assert_uploaded(
        int(out.splitlines()[-1]), tenant, media, queue, "_my_lecture_final_rm_-rf.mp4"
    )
    assert video.source_key.endswith("/source/_my_lecture_final_rm_-rf.mp4")
    assert video.title == "Week 1"


def test_missing_file(config, tenant, tmp_path, media, queue):
    code, out, err = upload(str(tmp_path / "nope.mp4"), "--tenant", tenant.slug)
    assert (code, out) == (2, "")
    assert err == f"{tmp_path / 'nope.mp4'}: no such file"
    assert_nothing_created(media, queue)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.mkdir(), "is a directory, not a video file"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: os.mkfifo(p), "is not a regular file"),
        # Before: the link was followed and /etc/passwd stored as the tenant's video.
        (lambda p: p.symlink_to("/etc/passwd"), "is a symbolic link; give the file itself"),
        (lambda p: p.symlink_to(p.parent / "missing.mp4"), "is a symbolic link; give the file"),
        (lambda p: p.symlink_to("/dev/zero"), "is a symbolic link; give the file itself"),
    ],
    ids=["directory", "empty", "fifo", "link-to-passwd", "dangling-link", "link-to-device"],
)
def test_unusable_paths_create_nothing(config, tenant, tmp_path, media, queue, make, needle):
    target = tmp_path / "thing.mp4"
    make(target)
    code, _out, err = upload(str(target), "--tenant", tenant.slug)
    assert code == 2
    assert err.startswith(f"{target}: {needle}")
    assert_nothing_created(media, queue)


def _check_as_unprivileged(path) -> str:
    """check_source_file's verdict from a process without root's power to read anything."""
    from src.application.upload_video import UploadRejected, check_source_file

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: become `nobody`, then try the file
        os.close(read_end)
        message = "accepted"
        try:
            os.setgid(65534)
            os.setuid(65534)
            check_source_file(path, 10**9)
        except UploadRejected as exc:
            message = str(exc)
        except BaseException as exc:  # report anything to the parent
            message = f"unexpected {type(exc).__name__}: {exc}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return message


def test_unreadable_file(config, tenant, video_file, media, queue):
    video_file.chmod(0)
    if os.geteuid() == 0:
        # Root reads every file, so the refusal is checked where it happens: as another user.
        assert "cannot be read (Permission denied)" in _check_as_unprivileged(video_file)
        return
    code, _out, err = upload(str(video_file), "--tenant", tenant.slug)
    assert code == 2 and "cannot be read" in err
    assert_nothing_created(media, queue)


def test_unknown_tenant_creates_nothing(config, tenant, video_file, media, queue):
    code, _out, err = upload(str(video_file), "--tenant", "chemistry")
    assert code == 2
    assert "unknown tenant 'chemistry'" in err and "--create-tenant" in err
    assert_nothing_created(media, queue)


def test_create_tenant(config, video_file, media, queue):
    code, out, err = upload(
        str(video_file), "--tenant", "chemistry", "--create-tenant", "--tenant-name", "Chem Lab"
    )
    assert code == 0, err
    created = Tenant.objects.get(slug="chemistry")
    assert created.name == "Chem Lab"
    assert_uploaded(int(out.splitlines()[-1]), created, media, queue, "lecture.mp4")
    # The second upload finds the tenant instead of creating it again.
    code, out, err = upload(str(video_file), "--tenant", "chemistry", "--create-tenant")
    assert code == 0, err
    assert Tenant.objects.filter(slug="chemistry").count() == 1
    assert Video.objects.filter(tenant=created).count() == 2


@pytest.mark.parametrize("slug", ["bad slug", "../etc", "é", "x" * 65, ""])
def test_invalid_slug_is_refused_before_anything(config, video_file, media, queue, slug):
    code, _out, err = upload(str(video_file), "--tenant", slug, "--create-tenant")
    assert code == 2 and "--tenant" in err
    assert_nothing_created(media, queue, tenants=0)


def test_file_larger_than_the_limit(config, tenant, video_file, media, queue):
    config(max_source_bytes=len(VIDEO_BYTES) - 1)
    code, _out, err = upload(str(video_file), "--tenant", tenant.slug)
    assert code == 2
    assert f"is {len(VIDEO_BYTES)} bytes, more than VIDEO_MAX_SOURCE_BYTES" in err
    assert_nothing_created(media, queue)
    config(max_source_bytes=len(VIDEO_BYTES))
    code, out, _err = upload(str(video_file), "--tenant", tenant.slug)
    assert code == 0 and Video.objects.filter(pk=int(out.splitlines()[-1])).exists()


def test_storage_failure_rolls_back_row_and_created_tenant(config, video_file, media, queue):
    config(storage_url="s3://no-such-bucket/media")
    code, _out, err = upload(str(video_file), "--tenant", "newco", "--create-tenant")
    assert code == 2
    assert err.startswith("upload failed, nothing was created:")
    assert "bucket 'no-such-bucket' does not exist" in err
    assert "could not be removed" not in err  # nothing was stored, so nothing to clean up
    assert_nothing_created(media, queue, tenants=0)


def test_failure_after_storing_removes_the_stored_object(
    config, tenant, video_file, media, queue, monkeypatch
):
    class ShortWriteStorage(LocalStorage):
        def size(self, key: str) -> int:
            return super().size(key) - 1  # as if the file changed during the upload

    monkeypatch.setattr(bootstrap_module, "build_storage", lambda cfg: ShortWriteStorage(media))
    code, _out, err = upload(str(video_file), "--tenant", tenant.slug)
    assert code == 2 and "changed meanwhile" in err
    assert_nothing_created(media, queue)


def test_invalid_storage_url_is_a_configuration_error(config, tenant, video_file, media, queue):
    config(storage_url="file://relative/media")
    code, _out, err = upload(str(video_file), "--tenant", tenant.slug)
    assert code == 2 and err.startswith("configuration error: VIDEO_STORAGE_URL")
    assert_nothing_created(media, queue)


def test_sqs_down_keeps_the_committed_row(config, tenant, video_file, media, queue):
    config(aws_endpoint_url=f"http://127.0.0.1:{closed_port()}")
    code, out, err = upload(str(video_file), "--tenant", tenant.slug)
    assert code == 1
    video_id = int(out.splitlines()[-1])
    assert f"video {video_id} was created" in err
    assert "could not be sent to SQS" in err and "reconcile_video_processing" in err
    video = Video.objects.get(pk=video_id)
    assert video.status == Video.Status.UPLOADED
    assert (media / video.source_key).read_bytes() == VIDEO_BYTES
    assert queue.drain() == []


# -- as a real process -----------------------------------------------------------------------


def database_url() -> str:
    """The pytest-django test database, for the child process."""
    from django.db import connection

    db = connection.settings_dict
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def upload_process(moto_url, queue, media):
    """Run `python manage.py upload_video ARGS` with the test's environment (overridable)."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIDEO_", "DJANGO_", "AWS_", "DATABASE_URL"))
    }

    def run(*args: str, **env_extra: str) -> subprocess.CompletedProcess:
        env = {
            **keep,
            **AWS_ENV,
            **DEVELOPMENT_ENV,
            "DJANGO_SETTINGS_MODULE": "academy.settings",
            "DATABASE_URL": database_url(),
            "AWS_ENDPOINT_URL": moto_url,
            "VIDEO_SQS_QUEUE_NAME": queue.name,
            "VIDEO_STORAGE_URL": f"file://{media}",
            **env_extra,
        }
        return subprocess.run(
            [sys.executable, "manage.py", "upload_video", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_subprocess_upload_prints_the_id_last(upload_process, queue, tenant, video_file, media):
    proc = upload_process(str(video_file), "--tenant", tenant.slug, "--title", "Thermodynamics 1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    video_id = int(lines[-1])
    assert [json.loads(line)["event"] for line in lines[:-1]] == ["VIDEO_UPLOADED"]
    video, _ = assert_uploaded(video_id, tenant, media, queue, "lecture.mp4")
    assert video.title == "Thermodynamics 1"


def test_subprocess_unknown_tenant_is_one_line(upload_process, queue, tenant, video_file, media):
    proc = upload_process(str(video_file), "--tenant", "nobody")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("CommandError: unknown tenant 'nobody'")
    assert_nothing_created(media, queue)


def test_subprocess_file_too_large_and_sqs_down(upload_process, queue, tenant, video_file, media):
    too_big = upload_process(str(video_file), "--tenant", tenant.slug, VIDEO_MAX_SOURCE_BYTES="100")
    assert too_big.returncode == 2
    assert "more than VIDEO_MAX_SOURCE_BYTES (100)" in too_big.stderr
    assert_nothing_created(media, queue)

    closed = f"http://AKIAKEY:s3cr3tpw@127.0.0.1:{closed_port()}"
    down = upload_process(str(video_file), "--tenant", tenant.slug, AWS_ENDPOINT_URL=closed)
    assert down.returncode == 1
    assert "could not be sent to SQS" in down.stderr
    # botocore's message names the endpoint: its credentials are hidden, here and in the log.
    assert "http://***@127.0.0.1" in down.stderr
    assert "s3cr3tpw" not in down.stderr + down.stdout
    video = Video.objects.get(pk=int(down.stdout.splitlines()[-1]))
    assert video.status == Video.Status.UPLOADED and video.source_key


def test_subprocess_symlink_is_refused_not_followed(upload_process, queue, tenant, tmp_path, media):
    link = tmp_path / "lecture.mp4"
    link.symlink_to("/etc/passwd")
    proc = upload_process(str(link), "--tenant", tenant.slug)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"CommandError: {link}: is a symbolic link; give the file itself"
    assert_nothing_created(media, queue)
