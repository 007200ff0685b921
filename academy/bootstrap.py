"""The composition root: the worker, the commands and the tests build their object graph here."""

from __future__ import annotations

import os
from dataclasses import dataclass

from academy.config import AppConfig, load_config
from src.application.direct_upload import DirectUpload, UploadLimits
from src.application.ports.progress import ProgressPort
from src.application.ports.queue import VideoQueue
from src.application.ports.storage import Storage
from src.application.ports.transcoder import Transcoder
from src.application.ports.video_repository import VideoRepository
from src.application.video_commands import VideoCommands
from src.application.video_queries import VideoQueries


@dataclass
class Services:
    config: AppConfig
    repository: VideoRepository
    queue: VideoQueue
    progress: ProgressPort
    storage: Storage
    transcoder: Transcoder


def setup_django() -> None:
    """Configure Django once (for processes that are not started through manage.py)."""
    import django
    from django.apps import apps

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "academy.settings")
    if not apps.ready:
        django.setup()


def build_repository(config: AppConfig) -> VideoRepository:
    from academy.adapters.db.django.repositories_video import DjangoVideoRepository

    return DjangoVideoRepository(
        max_attempts=config.max_attempts, default_lease_seconds=config.lease_seconds
    )


def build_queue(config: AppConfig) -> VideoQueue:
    from src.infrastructure.queue.sqs_queue import SqsVideoQueue, sqs_client

    client = sqs_client(config.aws_region, config.aws_endpoint_url or None)
    return SqsVideoQueue(client, queue_url=config.sqs_queue_url, queue_name=config.sqs_queue_name)


def build_progress(config: AppConfig) -> ProgressPort:
    from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client

    return RedisProgressAdapter(redis_client(config.redis_url), heartbeat_ttl=config.heartbeat_ttl)


def build_storage(config: AppConfig) -> Storage:
    from src.infrastructure.storage.factory import storage_from_url

    return storage_from_url(
        config.storage_url, region=config.aws_region, endpoint_url=config.aws_endpoint_url
    )


def build_transcoder(config: AppConfig) -> Transcoder:
    from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder

    return FfmpegTranscoder.from_config(config)


def bootstrap(
    config: AppConfig | None = None,
    *,
    repository: VideoRepository | None = None,
    queue: VideoQueue | None = None,
    progress: ProgressPort | None = None,
    storage: Storage | None = None,
    transcoder: Transcoder | None = None,
) -> Services:
    """Wire the real adapters, except those the caller injects."""
    config = config or load_config()
    if repository is None:
        setup_django()
    return Services(
        config=config,
        repository=repository or build_repository(config),
        queue=queue or build_queue(config),
        progress=progress or build_progress(config),
        storage=storage or build_storage(config),
        transcoder=transcoder or build_transcoder(config),
    )


@dataclass
class ApiUseCases:
    """What the HTTP API calls: every use case on one set of adapters."""

    config: AppConfig
    uploads: DirectUpload
    queries: VideoQueries
    commands: VideoCommands
    storage: Storage
    repository: VideoRepository
    queue: VideoQueue
    progress: ProgressPort


def api_use_cases(
    config: AppConfig | None = None,
    *,
    repository: VideoRepository | None = None,
    queue: VideoQueue | None = None,
    progress: ProgressPort | None = None,
    storage: Storage | None = None,
) -> ApiUseCases:
    """The API's object graph (no transcoder: the API never runs ffmpeg)."""
    config = config or load_config()
    if repository is None:
        setup_django()
    repository = repository or build_repository(config)
    queue = queue or build_queue(config)
    progress = progress or build_progress(config)
    storage = storage or build_storage(config)
    limits = UploadLimits(
        max_source_bytes=config.max_source_bytes,
        upload_ttl_seconds=config.upload_ttl_seconds,
        part_bytes=config.upload_part_bytes,
    )
    return ApiUseCases(
        config=config,
        uploads=DirectUpload(repository, storage, queue, limits),
        queries=VideoQueries(repository, progress),
        commands=VideoCommands(repository, storage, queue),
        storage=storage,
        repository=repository,
        queue=queue,
        progress=progress,
    )
