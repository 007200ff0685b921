"""Worker entry point: python -m apps.worker.video_worker.sqs_main [--jobs video|captions]
[--max-messages N] [--exit-when-idle SECONDS]."""

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
    parser.add_argument(
        "--jobs",
        choices=("video", "captions"),
        default="video",
        help="which queue to consume: encodes (video) or caption jobs (captions)",
    )
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
    captions = args.jobs == "captions"
    if captions:
        # Every line of a caption worker says so: its jobs are counted apart from encodes.
        structlog.contextvars.bind_contextvars(job="captions")
    log = structlog.get_logger()

    from academy.bootstrap import bootstrap
    from src.application.ports.captions import CaptionEngineUnavailable
    from src.application.ports.queue import QueueNotFound

    services = bootstrap(config, **overrides)
    try:
        # Built now, so a bad setting stops start-up with one line naming it.
        for adapter in ("unit_of_work", "storage", "transcoder", "progress", "queue"):
            getattr(services, adapter)
        if captions:
            if not config.captions.enabled:
                raise ConfigError("VIDEO_CAPTIONS=off: a caption worker has nothing to do")
            # Found now (not loaded: the first caption job loads it), or no start at all.
            services.transcriber.check()
    except (ConfigError, ValueError) as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 1
    except CaptionEngineUnavailable as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 1
    queue = services.job_queue(args.jobs)
    try:
        queue.check()
    except QueueNotFound:
        pass  # not created yet: the loop waits for it (WORKER_QUEUE_MISSING, logged once)
    except Exception as exc:  # noqa: BLE001 - SQS unreachable: the loop retries with backoff
        log.warning("SQS_UNAVAILABLE_AT_START", error=f"{type(exc).__name__}: {exc}"[:300])
    # Folders of jobs whose worker was killed on this machine (no one else will remove them).
    job = services.caption_video if captions else services.process_video
    orphans = job.remove_orphan_folders()
    if orphans:
        log.warning("WORKER_ORPHAN_FOLDERS_REMOVED", work_dir=config.work_dir, folders=orphans)
    if config.worker_metrics_port is not None:
        from src.infrastructure import metrics

        try:
            metrics.serve(config.worker_metrics_port)
        except OSError as exc:
            sys.stderr.write(
                f"configuration error: WORKER_METRICS_PORT {config.worker_metrics_port}: {exc}\n"
            )
            return 1
        log.info("WORKER_METRICS_SERVING", port=config.worker_metrics_port)
    from apps.worker.video_worker.assembly import worker_loop

    loop = worker_loop(
        services, jobs=args.jobs, max_messages=args.max_messages, exit_when_idle=args.exit_when_idle
    )
    loop.install_signal_handlers()
    log.info("WORKER_STARTED", **config.summary(), jobs=args.jobs, max_messages=args.max_messages)
    try:
        return loop.run()
    finally:
        loop.restore_signal_handlers()


if __name__ == "__main__":
    sys.exit(main())
