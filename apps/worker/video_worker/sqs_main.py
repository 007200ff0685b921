"""Worker entry point: python -m apps.worker.video_worker.sqs_main [--max-messages N]
[--exit-when-idle SECONDS]."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import structlog

from academy.cli import seconds_type

# The loop waits in whole seconds (the long poll's unit), so a shorter idle limit means
# nothing; a week bounds the arithmetic on it.
EXIT_WHEN_IDLE_MIN_SECONDS = 1.0
EXIT_WHEN_IDLE_MAX_SECONDS = 7 * 24 * 3600.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sqs_main", description="Academy video SQS worker")
    parser.add_argument("--max-messages", type=int, default=None, help="exit after N messages")
    parser.add_argument(
        "--exit-when-idle",
        type=seconds_type(EXIT_WHEN_IDLE_MIN_SECONDS, EXIT_WHEN_IDLE_MAX_SECONDS),
        default=None,
        metavar="SECONDS",
        help=f"exit after SECONDS without a message (at least {EXIT_WHEN_IDLE_MIN_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    if args.max_messages is not None and args.max_messages < 1:
        parser.error("--max-messages must be at least 1")
    return args


def main(argv: Sequence[str] | None = None, **overrides) -> int:
    """Run the worker; `overrides` inject adapters (tests use FakeTranscoder)."""
    args = parse_args(argv)
    from academy.config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 1

    from src.infrastructure.logging import configure_logging

    configure_logging(level=config.log_level, worker_id=config.worker_id)
    log = structlog.get_logger()

    from academy.bootstrap import bootstrap
    from apps.worker.video_worker.ack import Acknowledger
    from apps.worker.video_worker.handler import MessageHandler
    from apps.worker.video_worker.loop import WorkerLoop
    from apps.worker.video_worker.readiness import DependencyUp, WorkDirRoom
    from src.application.handle_job import HandleJob
    from src.application.process_video import ProcessVideo

    try:
        services = bootstrap(config, **overrides)
    except (ConfigError, ValueError) as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 1
    from src.application.ports.queue import QueueNotFound

    try:
        services.queue.check()
    except QueueNotFound as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - SQS unreachable: the loop retries with backoff
        log.warning("SQS_UNAVAILABLE_AT_START", error=f"{type(exc).__name__}: {exc}"[:300])
    process = ProcessVideo(
        services.repository, services.storage, services.transcoder, config.work_dir or None
    )
    # Folders of jobs whose worker was killed on this machine (no one else will remove them).
    orphans = process.remove_orphan_folders()
    if orphans:
        log.warning("WORKER_ORPHAN_FOLDERS_REMOVED", work_dir=config.work_dir, folders=orphans)
    ack = Acknowledger(
        services.queue, fast_ack=config.fast_ack, visibility_timeout=config.visibility_timeout
    )
    handle_job = HandleJob(
        services.repository,
        services.progress,
        process,
        worker_id=config.worker_id,
        lease_seconds=config.lease_seconds,
        heartbeat_interval=config.heartbeat_interval,
        keep_in_flight=ack.keep_in_flight,
    )
    handler = MessageHandler(handle_job, ack)
    loop = WorkerLoop(
        services.queue,
        handler,
        worker_id=config.worker_id,
        visibility_timeout=config.visibility_timeout,
        grace_seconds=config.shutdown_grace_seconds,
        max_messages=args.max_messages,
        exit_when_idle=args.exit_when_idle,
        readiness=[
            DependencyUp("database", services.repository.ping),
            WorkDirRoom(config.work_dir, config.work_dir_min_free_bytes),
        ],
    )
    loop.install_signal_handlers()
    log.info("WORKER_STARTED", **config.summary(), max_messages=args.max_messages)
    try:
        return loop.run()
    finally:
        loop.restore_signal_handlers()


if __name__ == "__main__":
    sys.exit(main())
