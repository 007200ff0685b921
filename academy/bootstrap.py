"""The composition root: every entry point gets its object graph here.

`bootstrap(config, **adapters)` returns the `Services`: each adapter is built from the
configuration the first time it is used, unless the caller passed one (the unit tests pass
fakes; `bench.fake_worker` passes the FakeTranscoder). From them it builds what the entry
points run: the worker's loop (`sqs_main`), the `Reconciler` (`reconcile_video_processing`),
the `UploadVideo` use case (`upload_video`), the HTTP API's use cases (`api()`), and the
reads the demo makes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from academy.config import AppConfig, load_config
from src.application.direct_upload import DirectUpload, UploadLimits
from src.application.playback_commands import PlaybackCommands
from src.application.ports.progress import ProgressPort
from src.application.ports.queue import VideoQueue
from src.application.ports.storage import Storage, probe_storage
from src.application.ports.tenants import TenantRepository
from src.application.ports.transcoder import Transcoder
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.ports.video_repository import VideoRepository
from src.application.video_commands import VideoCommands
from src.application.video_queries import VideoQueries

if TYPE_CHECKING:
    from src.application.caption_job import CaptionRequests, CaptionVideo
    from src.application.caption_tracks import CaptionTracks
    from src.application.deliver_webhooks import WebhookDispatcher
    from src.application.direct_upload import DirectUpload
    from src.application.handle_job import HandleJob, InFlightGuard
    from src.application.live_progress import FollowVideo, RunBlocking
    from src.application.ports.captions import CaptionRepository, SubtitleFiles, Transcriber
    from src.application.ports.cleanup_records import CleanupRecords
    from src.application.ports.transcript_search import TranscriptSearch
    from src.application.process_video import ProcessVideo
    from src.application.published_media import PublishedMedia
    from src.application.reconcile import Reconciler
    from src.application.subtitle_master import SubtitleMaster
    from src.application.upload_video import UploadVideo
    from src.application.video_cleanup import VideoCleanup
    from src.application.video_commands import VideoCommands
    from src.application.video_queries import VideoQueries
    from src.infrastructure.cache.redis_auth_throttle import RedisAuthThrottle
    from src.infrastructure.cache.redis_rate_limiter import RedisTokenBucket


def setup_django() -> None:
    """Configure Django once (for processes that are not started through manage.py)."""
    import django
    from django.apps import apps

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "academy.settings")
    if not apps.ready:
        django.setup()


# -- the adapters, from the configuration ------------------------------------------------------
def build_unit_of_work(config: AppConfig) -> AbstractUnitOfWork:
    setup_django()
    from academy.adapters.db.django.repositories_tenant import DjangoTenantRepository
    from academy.adapters.db.django.repositories_video import DjangoVideoRepository
    from academy.adapters.db.django.unit_of_work import DjangoUnitOfWork

    videos = DjangoVideoRepository(
        max_attempts=config.max_attempts, default_lease_seconds=config.lease_seconds
    )
    return DjangoUnitOfWork(videos, DjangoTenantRepository(videos.using))


def build_queue(config: AppConfig) -> VideoQueue:
    from src.infrastructure.queue.sqs_queue import SqsVideoQueue, sqs_client

    client = sqs_client(config.aws_region, config.aws_endpoint_url or None)
    return SqsVideoQueue(client, queue_url=config.sqs_queue_url, queue_name=config.sqs_queue_name)


def build_progress(config: AppConfig) -> ProgressPort:
    from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client

    return RedisProgressAdapter(
        redis_client(config.redis_url),
        heartbeat_ttl=config.heartbeat_ttl,
        events_prefix=config.live_channel_prefix,
    )


def build_storage(config: AppConfig) -> Storage:
    """Raises ValueError for a VIDEO_STORAGE_URL it cannot use."""
    from src.infrastructure.storage.factory import storage_from_url

    return storage_from_url(
        config.storage_url, region=config.aws_region, endpoint_url=config.aws_endpoint_url
    )


def build_transcoder(config: AppConfig) -> Transcoder:
    from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder

    return FfmpegTranscoder.from_config(config)


def build_webhook_dispatcher(
    config: AppConfig, render_video: Callable[..., dict[str, Any]], **overrides
) -> WebhookDispatcher:
    """The webhook dispatcher: the Django store, whose payloads' `data` is `render_video` of
    the row, and of the track too for a caption event (the API's own rendering,
    settings.WEBHOOK_PAYLOAD_RENDERER), and the signing HTTP transport behind the SSRF
    guard."""
    setup_django()
    from academy.adapters.db.django.webhook_store import DjangoWebhookStore
    from src.application.deliver_webhooks import WebhookDispatcher
    from src.infrastructure.webhooks.http_transport import UrllibWebhookTransport

    hooks = config.webhooks
    options = {
        "store": DjangoWebhookStore(render_video),
        "transport": UrllibWebhookTransport(
            timeout_seconds=hooks.timeout_seconds,
            allow_insecure=hooks.allow_insecure,
            allow_private=hooks.allow_private,
        ),
        "dispatcher_id": config.worker_id,
        "timeout_seconds": hooks.timeout_seconds,
        "concurrency": hooks.concurrency,
        **overrides,
    }
    return WebhookDispatcher(**options)


def build_rate_limiter(config: AppConfig) -> RedisTokenBucket | None:
    """The API's per-key token bucket in Redis; None when VIDEO_API_RATE_PER_SECOND is 0."""
    from src.infrastructure.cache.redis_progress_adapter import redis_client
    from src.infrastructure.cache.redis_rate_limiter import RedisTokenBucket

    if config.api_rate_per_second <= 0:
        return None
    return RedisTokenBucket(
        redis_client(config.redis_url),
        rate=config.api_rate_per_second,
        burst=config.api_rate_burst,
    )


def build_auth_throttle(config: AppConfig) -> RedisAuthThrottle:
    """Failed API-key checks (API and sign-in) per client address and key prefix, in Redis."""
    from src.infrastructure.cache.redis_auth_throttle import RedisAuthThrottle
    from src.infrastructure.cache.redis_progress_adapter import redis_client

    return RedisAuthThrottle(
        redis_client(config.redis_url),
        failures=config.auth_throttle.failures,
        window_seconds=config.auth_throttle.window_seconds,
    )


class Services:
    """The adapters of one process, built on first use, and what the entry points run."""

    def __init__(
        self,
        config: AppConfig,
        *,
        unit_of_work: AbstractUnitOfWork | None = None,
        queue: VideoQueue | None = None,
        progress: ProgressPort | None = None,
        storage: Storage | None = None,
        transcoder: Transcoder | None = None,
        repository: VideoRepository | None = None,
        cleanup_records: CleanupRecords | None = None,
        captions_repository: Any = None,
        transcript_search: Any = None,
        captions_queue: VideoQueue | None = None,
        transcriber: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.clock = clock  # monotonic seconds for the worker's timings and rate limits
        injected = {
            "unit_of_work": unit_of_work,
            "repository": repository,
            "queue": queue,
            "progress": progress,
            "storage": storage,
            "transcoder": transcoder,
            "cleanup_records": cleanup_records,
            "captions_repository": captions_repository,
            "transcript_search": transcript_search,
            "captions_queue": captions_queue,
            "transcriber": transcriber,
        }
        # An injected adapter takes the place of the cached property of the same name.
        self.__dict__.update({name: value for name, value in injected.items() if value is not None})

    @cached_property
    def unit_of_work(self) -> AbstractUnitOfWork:
        return build_unit_of_work(self.config)

    @cached_property
    def queue(self) -> VideoQueue:
        return build_queue(self.config)

    @cached_property
    def progress(self) -> ProgressPort:
        return build_progress(self.config)

    @cached_property
    def storage(self) -> Storage:
        return build_storage(self.config)

    @cached_property
    def rate_limiter(self) -> RedisTokenBucket | None:
        return build_rate_limiter(self.config)

    @cached_property
    def auth_throttle(self) -> RedisAuthThrottle:
        return build_auth_throttle(self.config)

    @cached_property
    def transcoder(self) -> Transcoder:
        return build_transcoder(self.config)

    @cached_property
    def process_video(self) -> ProcessVideo:
        """The process-a-video use case (one per worker: it owns the job folders)."""
        from src.application.process_video import ProcessVideo

        return ProcessVideo(
            self.repository,
            self.storage,
            self.transcoder,
            self.config.work_dir or None,
            after_ready=self.caption_requests.after_ready if self._captions_on() else None,
        )

    def _captions_on(self) -> bool:
        """Automatic captions: on with VIDEO_CAPTIONS=auto when the videos live in the database
        the caption tracks live in (a graph of in-memory fakes has no caption repository
        unless one is passed)."""
        return self.config.captions.enabled and self._captions_wired()

    def _captions_wired(self) -> bool:
        """Caption tracks can be read here (a database graph, or an injected repository)."""
        if "captions_repository" in self.__dict__:
            return True
        inner = getattr(self.repository, "inner", self.repository)
        return type(inner).__module__.startswith("academy.adapters.db.django")

    # -- captions --------------------------------------------------------------------------
    @cached_property
    def captions_repository(self) -> CaptionRepository:
        """The caption tracks; each change is announced to the video's live followers."""
        setup_django()
        from academy.adapters.db.django.repositories_captions import DjangoCaptionRepository
        from src.application.caption_announcements import CaptionAnnouncingRepository

        inner = DjangoCaptionRepository(
            max_attempts=self.config.max_attempts, default_lease_seconds=self.config.lease_seconds
        )
        return CaptionAnnouncingRepository(inner, self.progress)  # type: ignore[return-value]

    @cached_property
    def transcript_search(self) -> TranscriptSearch:
        """The transcript index of the database the repositories use."""
        setup_django()
        from academy.adapters.db.django.transcript_search import transcript_search

        return transcript_search()

    @cached_property
    def captions_queue(self) -> VideoQueue:
        """The caption jobs' own queue (VIDEO_CAPTIONS_QUEUE_URL)."""
        from src.infrastructure.queue.sqs_queue import SqsVideoQueue, sqs_client

        config = self.config
        client = sqs_client(config.aws_region, config.aws_endpoint_url or None)
        return SqsVideoQueue(
            client, queue_url=config.captions.queue_url, queue_name=config.captions.queue_name
        )

    @cached_property
    def captions_progress(self) -> ProgressPort:
        """The caption job's progress and heartbeat keys (`…:captions:…`)."""
        from src.infrastructure.cache.redis_keys import CAPTIONS_JOB
        from src.infrastructure.cache.redis_progress_adapter import (
            RedisProgressAdapter,
            redis_client,
        )

        if "progress" in self.__dict__ and not isinstance(
            self.__dict__["progress"], RedisProgressAdapter
        ):
            return self.progress  # an injected fake: the tests read one store
        return RedisProgressAdapter(
            redis_client(self.config.redis_url),
            heartbeat_ttl=self.config.heartbeat_ttl,
            events_prefix=self.config.live_channel_prefix,
            job=CAPTIONS_JOB,
        )

    @cached_property
    def transcriber(self) -> Transcriber:
        from src.infrastructure.captions.whisper_transcriber import FasterWhisperTranscriber

        return FasterWhisperTranscriber(self.config.captions.model)

    @cached_property
    def subtitle_files(self) -> SubtitleFiles:
        from src.infrastructure.captions.webvtt_files import WebvttSubtitleFiles

        return WebvttSubtitleFiles(self.config.hls_segment_seconds)

    @cached_property
    def subtitle_master(self) -> SubtitleMaster:
        from src.application.subtitle_master import SubtitleMaster

        return SubtitleMaster(self.captions_repository, self.repository, self.storage)

    @cached_property
    def caption_requests(self) -> CaptionRequests:
        from src.application.caption_job import CaptionRequests

        captions = self.config.captions
        return CaptionRequests(
            self.captions_repository,
            self.captions_queue,
            language=captions.language,
            enabled=captions.enabled,
            language_of=lambda video_id: getattr(
                self.repository.get(video_id), "caption_language", ""
            ),
        )

    @cached_property
    def caption_video(self) -> CaptionVideo:
        """The caption job (one per worker: it owns its job folders and keeps the model)."""
        from src.application.caption_job import CaptionVideo

        return CaptionVideo(
            self.captions_repository,
            self.repository,
            self.storage,
            self.transcoder,  # FfmpegTranscoder is also the AudioExtractor
            self.transcriber,
            self.subtitle_files,
            self.subtitle_master,
            self.config.work_dir or None,
        )

    @cached_property
    def repository(self) -> VideoRepository:
        """The unit of work's video repository, unless one was passed in; its status changes
        are announced to live followers after each write (StatusAnnouncingRepository)."""
        from src.application.status_announcements import StatusAnnouncingRepository

        return StatusAnnouncingRepository(self.unit_of_work.videos, self.progress)

    @property
    def tenants(self) -> TenantRepository:
        return self.unit_of_work.tenants

    # -- the worker (apps/worker/video_worker/assembly.py adds the message policy) ----------
    def job_queue(self, jobs: str = "video") -> VideoQueue:
        """The queue a worker consumes: encodes (`video`) or caption jobs (`captions`)."""
        return self.captions_queue if jobs == "captions" else self.queue

    def handle_job(self, *, keep_in_flight: InFlightGuard, jobs: str = "video") -> HandleJob:
        """The handle-job use case of one worker; `keep_in_flight` keeps its message hidden
        while the job runs (the worker's acknowledgement policy); `jobs` "captions" runs
        caption jobs with the same machinery."""
        from src.application.handle_job import HandleJob

        config = self.config
        captions = jobs == "captions"
        return HandleJob(
            self.captions_repository if captions else self.repository,
            self.captions_progress if captions else self.progress,
            self.caption_video if captions else self.process_video,
            worker_id=config.worker_id,
            lease_seconds=config.lease_seconds,
            heartbeat_interval=config.heartbeat_interval,
            keep_in_flight=keep_in_flight,
            clock=self.clock,
        )

    # -- reconcile and upload --------------------------------------------------------------
    def reconciler(self, *, limit: int = 100) -> Reconciler:
        from src.application.reconcile import Reconciler, heartbeat_grace

        return Reconciler(
            self.repository,
            self.queue,
            self.progress,
            heartbeat_grace_seconds=heartbeat_grace(self.config.heartbeat_interval),
            reenqueue_after_seconds=self.config.reenqueue_after_seconds,
            limit=limit,
            storage=self.storage,
        )

    def caption_reconciler(self, *, limit: int = 100) -> Reconciler:
        """The same reconciler over the caption jobs: dead workers' tracks back to QUEUED and
        re-sent on the caption queue, lost messages re-sent."""
        from src.application.reconcile import Reconciler, heartbeat_grace

        return Reconciler(
            self.captions_repository,
            self.captions_queue,
            self.captions_progress,
            heartbeat_grace_seconds=heartbeat_grace(self.config.heartbeat_interval),
            reenqueue_after_seconds=self.config.reenqueue_after_seconds,
            limit=limit,
        )

    def upload_video(self) -> UploadVideo:
        from src.application.upload_video import UploadVideo

        return UploadVideo(
            self.unit_of_work,
            self.storage,
            self.queue,
            max_source_bytes=self.config.max_source_bytes,
            playback_policy=self.config.playback.default_policy,
        )

    def cleanup(self) -> VideoCleanup:
        """The cleanup run (`cleanup_videos`, and reconcile's hourly pass): storage and the
        database's expired records."""
        from src.application.video_cleanup import VideoCleanup

        return VideoCleanup(self.storage, self.cleanup_records)

    @cached_property
    def cleanup_records(self) -> CleanupRecords:
        setup_django()
        from academy.adapters.db.django.cleanup_records import DjangoCleanupRecords

        return DjangoCleanupRecords()

    # -- the HTTP API, the web pages, the admin and the live stream --------------------------
    def follow_video(self, layer: Any, *, run_blocking: RunBlocking) -> FollowVideo:
        """The live-progress use case on Channels' `layer`; database reads through
        `run_blocking`, Redis reads in a thread of their own."""
        from src.application.live_progress import CaptionFollowing, FollowVideo
        from src.infrastructure.cache.channels_progress_feed import ChannelsProgressFeed

        return FollowVideo(
            self.repository,
            self.progress,
            ChannelsProgressFeed(layer),
            poll_seconds=self.config.progress_poll_seconds,
            run_blocking=run_blocking,
            read_telemetry=asyncio.to_thread,
            captions=CaptionFollowing(
                self.captions_repository.list_tracks,
                expects_auto=self._captions_on(),
            )
            if self._captions_wired()
            else None,
        )

    def api(self) -> ApiUseCases:
        """What the HTTP API (and the pages, the admin and the live stream built on it) calls:
        every use case on this process's adapters (no transcoder: the API never runs
        ffmpeg)."""
        from src.application.direct_upload import DirectUpload
        from src.application.published_media import PublishedMedia
        from src.application.video_commands import VideoCommands
        from src.application.video_queries import VideoQueries

        config = self.config
        limits = UploadLimits(
            max_source_bytes=config.max_source_bytes,
            upload_ttl_seconds=config.upload_ttl_seconds,
            part_bytes=config.upload_part_bytes,
        )
        return ApiUseCases(
            config=config,
            uploads=DirectUpload(self.repository, self.storage, self.queue, limits),
            queries=VideoQueries(self.repository, self.progress, self.transcript_search),
            commands=VideoCommands(self.repository, self.storage, self.queue),
            playback=PlaybackCommands(self.repository),
            media=PublishedMedia(self.repository, self.storage),
            reclaimer=functools.partial(self.reconciler, limit=1),
            follow_video=self.follow_video,
            checks={
                "redis": self.progress.ping,
                "queue": self.queue.check,
                "storage": functools.partial(probe_storage, self.storage),
            },
            rate_limiter=self.rate_limiter,
            auth_throttle=self.auth_throttle,
            captions=self.caption_tracks(),
        )

    def caption_tracks(self) -> CaptionTracks:
        from src.application.caption_tracks import CaptionTracks

        return CaptionTracks(
            self.captions_repository,
            self.repository,
            self.storage,
            self.subtitle_files,
            self.subtitle_master,
            max_upload_bytes=self.config.captions.max_upload_bytes,
        )


@dataclass
class ApiUseCases:
    """What the HTTP API calls: every use case on one set of adapters (and no adapter)."""

    config: AppConfig
    uploads: DirectUpload
    queries: VideoQueries
    commands: VideoCommands
    playback: PlaybackCommands
    media: PublishedMedia  # /media/ without a CDN
    # The admin's "reclaim now" (reconcile --force on one video): a new Reconciler per action.
    reclaimer: Callable[[], Reconciler]
    # The live stream's use case on a Channels layer (Services.follow_video).
    follow_video: Callable[..., FollowVideo]
    # Readiness: what else the process needs answering, by name (the database is checked
    # on Django's connection).
    checks: dict[str, Callable[[], object]]
    # apps/api/keys/rate_limits.py: None when limits are off.
    rate_limiter: RedisTokenBucket | None = None
    captions: CaptionTracks | None = None
    # apps/api/keys/auth_throttle.py: failed authentications per client address and key prefix.
    auth_throttle: RedisAuthThrottle | None = None


def api_use_cases(config: AppConfig | None = None, **adapters: Any) -> ApiUseCases:
    """The API's object graph, from the composition root (`repository`, `queue`, `progress`
    and `storage` may be passed in)."""
    return bootstrap(config, **adapters).api()


def bootstrap(config: AppConfig | None = None, **adapters: Any) -> Services:
    """The services of this process: the configuration's adapters, except those passed in
    (`unit_of_work` or just `repository`, `queue`, `progress`, `storage`, `transcoder`) and
    the `clock`."""
    return Services(config or load_config(), **adapters)
