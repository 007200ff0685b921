"""manage.py upload_video FILE --tenant SLUG: store a source video and enqueue its job.

stdout carries the new video's id alone (its last line), so scripts can capture it.
Exit codes: 0 done; 2 nothing was created (bad file, unknown tenant, storage or database
failure); 1 the video was created and stays UPLOADED but its job message was not sent
(reconcile_video_processing re-enqueues it later).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from academy.bootstrap import bootstrap
from apps.support.video.models import Tenant, Video
from src.application.domain.display_text import display_text_problem
from src.application.messages import MAX_TRACE_ID_LENGTH
from src.application.upload_video import (
    EnqueueFailed,
    StoredUpload,
    UploadFailed,
    UploadRejected,
)

log = structlog.get_logger("apps.support.video.upload")

NOTHING_CREATED = 2
NOT_ENQUEUED = 1


def _max_length(model, field: str) -> int:
    return model._meta.get_field(field).max_length


def _log_fields(upload: StoredUpload, trace_id: str | None) -> dict[str, object]:
    return {
        "video_id": upload.video_id,
        "tenant_id": upload.tenant_id,
        "request_id": upload.request_id,
        "trace_id": trace_id,
        "size_bytes": upload.size_bytes,
        "source_key": upload.source_key,
    }


class Command(BaseCommand):
    help = (
        "Upload a source video for a tenant: the row is created UPLOADED, the file stored, and "
        "one job message sent once the row is committed. Prints the video id on stdout. "
        "Exit 2: nothing created; exit 1: created but not enqueued (reconcile re-enqueues it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the source video file")
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
        parser.add_argument("--title", default=None, help="title (default: the file's name)")
        parser.add_argument(
            "--create-tenant",
            action="store_true",
            help="create the tenant when no tenant has this slug",
        )
        parser.add_argument(
            "--tenant-name", default="", help="name of a tenant created by --create-tenant"
        )
        parser.add_argument("--trace-id", default="", help="sent as the message's trace_id")

    def handle(self, *args, **options) -> None:
        config = settings.CONFIG
        path = Path(options["file"])
        slug = options["tenant"].strip()
        title = options["title"]
        if title is None:  # a long file name is no reason to refuse the upload
            title = path.stem[: _max_length(Video, "title")]
        tenant_name = options["tenant_name"].strip() or slug
        trace_id = options["trace_id"].strip() or None
        self._check_arguments(slug, title, tenant_name, trace_id)

        try:
            upload_video = bootstrap(config).upload_video()
        except ValueError as exc:
            raise CommandError(f"configuration error: {exc}", returncode=NOTHING_CREATED) from None
        request_id = str(uuid.uuid4())

        try:
            upload = upload_video(
                path,
                tenant_slug=slug,
                create_tenant=options["create_tenant"],
                tenant_name=tenant_name,
                request_id=request_id,
                title=title,
                trace_id=trace_id,
            )
        except UploadRejected as exc:
            raise CommandError(str(exc), returncode=NOTHING_CREATED) from None
        except UploadFailed as exc:
            raise CommandError(
                f"upload failed, nothing was created: {exc}", returncode=NOTHING_CREATED
            ) from None
        except EnqueueFailed as exc:
            up = exc.upload
            log.error("VIDEO_ENQUEUE_FAILED", **_log_fields(up, trace_id), error=str(exc))
            self.stdout.write(str(up.video_id))
            raise CommandError(
                f"video {up.video_id} was created (UPLOADED, source at {up.location}) but its job "
                f"message could not be sent to SQS: {str(exc).rstrip('.')}. It stays UPLOADED; "
                "reconcile_video_processing re-enqueues it after VIDEO_REENQUEUE_AFTER_SECONDS.",
                returncode=NOT_ENQUEUED,
            ) from None

        log.info("VIDEO_UPLOADED", **_log_fields(upload, trace_id), message_id=upload.message_id)
        self.stderr.write(
            f"video {upload.video_id} uploaded to {upload.location} and enqueued "
            f"(request_id {upload.request_id})",
            style_func=str,  # informational: not in Django's red error style
        )
        self.stdout.write(str(upload.video_id))

    def _check_arguments(
        self, slug: str, title: str, tenant_name: str, trace_id: str | None
    ) -> None:
        problems = []
        try:
            validate_slug(slug)
        except ValidationError:
            problems.append(
                f"--tenant {slug!r} is not a valid slug (letters, digits, '-' and '_' only)"
            )
        limits = [
            ("--tenant", slug, _max_length(Tenant, "slug")),
            ("--title", title, _max_length(Video, "title")),
            ("--tenant-name", tenant_name, _max_length(Tenant, "name")),
            ("--trace-id", trace_id or "", MAX_TRACE_ID_LENGTH),
        ]
        problems += [f"{flag} is longer than {n} characters" for flag, v, n in limits if len(v) > n]
        title_problem = display_text_problem(title)
        if title_problem:
            problems.append(f"--title {title_problem}")
        if problems:
            raise CommandError("; ".join(problems), returncode=NOTHING_CREATED)
