"""The worker's object graph: the composition root's adapters and use cases, assembled into
the message handler and the receive loop `sqs_main` runs (the unit tests assemble the same
graph from fakes through `bootstrap()`)."""

from __future__ import annotations

from typing import Any

from academy.bootstrap import Services
from apps.worker.video_worker.ack import Acknowledger
from apps.worker.video_worker.handler import MessageHandler
from apps.worker.video_worker.loop import WORKER_LIVENESS_MAX_AGE, WorkerLoop
from apps.worker.video_worker.readiness import DependencyUp, QueueExists, WorkDirRoom
from src.infrastructure.liveness import LivenessFile


def message_handler(services: Services, jobs: str = "video") -> MessageHandler:
    """The handle-job use case and the acknowledgement policy, for one worker; `jobs`
    "captions" takes caption jobs from their own queue."""
    config = services.config
    ack = Acknowledger(
        services.job_queue(jobs),
        fast_ack=config.fast_ack,
        visibility_timeout=config.visibility_timeout,
    )
    return MessageHandler(services.handle_job(keep_in_flight=ack.keep_in_flight, jobs=jobs), ack)


def worker_loop(
    services: Services,
    handler: MessageHandler | None = None,
    jobs: str = "video",
    **options: Any,
) -> WorkerLoop:
    """The receive loop of `sqs_main`; `options` as WorkerLoop takes them. By default it
    takes no job while its queue does not exist yet, the database does not answer or its work
    folder lacks room (VIDEO_WORK_DIR_MIN_FREE_BYTES), and it keeps LIVENESS_FILE fresh."""
    config = services.config
    options.setdefault(
        "readiness",
        [
            QueueExists(services.job_queue(jobs).check),
            DependencyUp("database", services.repository.ping),
            WorkDirRoom(config.work_dir, config.work_dir_min_free_bytes),
        ],
    )
    options.setdefault("liveness", LivenessFile(config.liveness_file, WORKER_LIVENESS_MAX_AGE))
    return WorkerLoop(
        services.job_queue(jobs),
        handler or message_handler(services, jobs),
        worker_id=config.worker_id,
        visibility_timeout=config.visibility_timeout,
        grace_seconds=options.pop("grace_seconds", config.shutdown_grace_seconds),
        **options,
    )
