#!/usr/bin/env python3
"""`make demo`: the whole pipeline on one machine, with nothing running beforehand.

SQLite and local storage under var/demo/ (wiped at start), moto's SQS server on a loopback
port, Redis at REDIS_URL (its DB 9) or an embedded stand-in, the HTTP API (uvicorn) on a free
loopback port and two real workers. A tenant and an API key are created with
`manage.py create_api_key`; three sample lectures made with ffmpeg are uploaded over HTTP
(create, PUT the bytes, upload-complete, each POST with an Idempotency-Key) and followed with
their live percent over the API's WebSocket (`/ws/v1/videos/{id}?token=`, one client per
video, the token from GET /api/v1/videos/{id}). A local receiver registered with
`manage.py add_webhook` gets the `video.ready` webhooks from a `manage.py deliver_webhooks
--loop` child and checks their signatures. Ends with a table of results whose master playlists
are fetched through their `assets` URLs and decoded, one webhook delivery, and a sample of the
API's, the workers' and the dispatcher's /metrics (full text in the logs folder). With
--keep, it then prints the web page's URL and the API key to sign in with, and leaves
everything up until Ctrl-C.

    python scripts/demo.py [--quick] [--keep] [--var-dir DIR] [--timeout SECONDS]

DEMO_SECONDS_SCALE (e.g. 0.5) scales the sample lengths; --quick means 0.25.
Exit 0 when every video is READY, its master playlist, fetched through its URL, decodes and
its webhook arrived signed; 1 otherwise; 130 when interrupted (0 when a --keep run, finished,
is stopped with Ctrl-C or SIGTERM). Everything the demo started is stopped on every path.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # bench.spoken_lecture

from demo_support import metrics_sample
from demo_support.api_client import ApiClient, ApiError
from demo_support.live_follow import LiveFollower, wait_all
from demo_support.processes import ROOT, Child, free_port, port_open, stop_all
from demo_support.progress import ProgressView, VideoState
from demo_support.report import VideoRow, format_table, playback_hints, verify_master
from demo_support.samples import SAMPLES, Sample, generate, scaled
from demo_support.webhooks import DEV_ENV, VerifyingReceiver, describe, dispatcher_args

DEFAULT_VAR_DIR = ROOT / "var" / "demo"
# Written into the demo folder: only a folder holding it (or an empty one) is ever wiped.
MARKER = ".academy-demo"
TENANT = "demo-academy"
QUEUE_NAME = "academy-video-jobs"
CAPTIONS_QUEUE_NAME = "academy-caption-jobs"
# After the spoken lecture is READY: its automatic captions (model load + transcription).
CAPTIONS_WAIT_SECONDS = 180
CAPTION_LINES_SHOWN = 4
WORKERS = 2
# A real Redis is shared with the developer: the demo writes only to a DB of its own.
DEMO_REDIS_DB = 9
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_PING_TIMEOUT_SECONDS = 0.5
QUICK_SCALE = 0.25
DEFAULT_TIMEOUT_SECONDS = 600
# Workers get a short shutdown grace so Ctrl-C is quick; stop_all waits a bit longer.
WORKER_GRACE_SECONDS = 5
WORKER_STOP_SECONDS = WORKER_GRACE_SECONDS + 5
SERVICE_STOP_SECONDS = 5
# Only if the demo itself vanished without stopping them (and not on Linux, where the
# kernel's parent-death signal does it): idle workers then exit on their own.
WORKER_IDLE_EXIT_SECONDS = 120
SERVICE_START_SECONDS = 60  # a first run compiles moto's many modules
COMMAND_TIMEOUT_SECONDS = 180
# Redraw rate of the progress view (the WebSocket messages arrive as they come).
REFRESH_SECONDS = 0.5
# The followers' threads end at once when asked; this only bounds a stuck one.
FOLLOWER_JOIN_SECONDS = 5
# After the last video is READY: its video.ready webhook (dispatcher polling every 0.5 s).
WEBHOOK_WAIT_SECONDS = 30
# After the last video is READY: the workers' job counters catch up (their completion log).
METRICS_WAIT_SECONDS = 10
# The demo's key is the only one: a limit that it stays well inside.
API_RATE = {"VIDEO_API_RATE_PER_SECOND": "20", "VIDEO_API_RATE_BURST": "100"}
AWS_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_SESSION_TOKEN": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never wait on an instance-metadata lookup
}


class DemoFailed(Exception):
    """A step failed; the message says which and why."""


class DemoTimeout(DemoFailed):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short samples (for tests)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="at the end, print the web page's URL and leave everything up until Ctrl-C",
    )
    parser.add_argument(
        "--var-dir", type=Path, default=DEFAULT_VAR_DIR, help="demo folder (wiped at start)"
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"give up after SECONDS (default {DEFAULT_TIMEOUT_SECONDS})",
    )
    args = parser.parse_args(argv)
    if args.timeout < 10:
        parser.error("--timeout must be at least 10 seconds")
    raw = os.environ.get("DEMO_SECONDS_SCALE", "").strip()
    if raw:
        try:
            args.scale = float(raw)
        except ValueError:
            args.scale = 0.0
        if not 0 < args.scale <= 10:
            parser.error(f"DEMO_SECONDS_SCALE must be a number in (0, 10], got {raw!r}")
    else:
        args.scale = QUICK_SCALE if args.quick else 1.0
    return args


def prepare_var_dir(path: Path) -> None:
    """Wipe the demo folder, refusing any non-empty folder the demo did not make."""
    if path.exists():
        if not path.is_dir():
            raise DemoFailed(f"{path} exists and is not a folder")
        if any(path.iterdir()) and not (path / MARKER).exists() and path != DEFAULT_VAR_DIR:
            raise DemoFailed(f"{path} is not empty and not a demo folder: refusing to wipe it")
        shutil.rmtree(path)
    for sub in ("logs", "media", "work", "samples"):
        (path / sub).mkdir(parents=True)
    (path / MARKER).write_text("made by scripts/demo.py; wiped by the next run\n")


def redis_with_db(url: str, db: int) -> str:
    """The same server, another DB number (redis://, rediss:// and unix:// URLs)."""
    parts = urlparse(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return parts._replace(query=urlencode(query)).geturl()
    return parts._replace(path=f"/{db}").geturl()


def redis_place(url: str) -> str:
    """Where a Redis URL points, without credentials."""
    parts = urlparse(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


def redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_PING_TIMEOUT_SECONDS,
            socket_timeout=REDIS_PING_TIMEOUT_SECONDS,
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


class Demo:
    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.tty = out.isatty() and os.environ.get("TERM", "") != "dumb"
        self.var_dir = Path(args.var_dir).resolve()
        self.logs = self.var_dir / "logs"
        self.media_root = self.var_dir / "media"
        self.started = time.monotonic()
        self.started_wall = datetime.now(UTC)
        self.children: list[Child] = []
        self.workers: list[Child] = []
        self.commands: list[Path] = []  # logs of one-shot commands, shown on failure
        self.env = self._base_env()
        self.moto: Child | None = None
        self.api: ApiClient | None = None
        self.api_server: Child | None = None
        self.key = ""  # the API key; printed only at the end of a --keep run
        self.redis_port: int | None = None  # the embedded stand-in's, when it runs
        self.dispatcher: Child | None = None
        self.receiver: VerifyingReceiver | None = None
        self.followers: list[LiveFollower] = []
        self.api_port = 0
        self.moto_port = 0
        self.dispatcher_metrics_port = 0
        self.metrics_ports: dict[str, int] = {}  # worker name -> its exporter's port

    # -- output ----------------------------------------------------------------------------
    def say(self, message: str) -> None:
        self.out.write(f"[{time.monotonic() - self.started:6.1f}s] {message}\n")
        self.out.flush()

    def rel(self, path: Path) -> str:
        """A path as short as it can be while still unambiguous from the repository."""
        try:
            return str(path.relative_to(ROOT))
        except ValueError:
            return str(path)

    # -- environment -----------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        """The developer's environment minus every setting that could point at their data."""
        dropped = ("VIDEO_", "DJANGO_", "AWS_")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(dropped) and k not in ("DATABASE_URL", "REDIS_URL", "WORKER_ID")
        }
        env.update(AWS_FAKE_ENV)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "academy.settings",
                "DJANGO_DEBUG": "1",
                "DATABASE_URL": f"sqlite:///{self.var_dir / 'db.sqlite3'}",
                "VIDEO_STORAGE_URL": f"file://{self.media_root}",
                "VIDEO_WORK_DIR": str(self.var_dir / "work"),
                "VIDEO_SQS_QUEUE_NAME": QUEUE_NAME,
                "VIDEO_SHUTDOWN_GRACE_SECONDS": str(WORKER_GRACE_SECONDS),
                "PYTHONUNBUFFERED": "1",
                **API_RATE,
            }
        )
        return env

    def start(
        self, name: str, args: list[str], extra_env: dict[str, str] | None = None, **kwargs: Any
    ) -> Child:
        child = Child(name, args, {**self.env, **(extra_env or {})}, self.logs, **kwargs)
        self.children.append(child)
        return child

    # -- the steps -------------------------------------------------------------------------
    def run(self) -> int:
        prepare_var_dir(self.var_dir)
        self.out.write(
            f"Academy video pipeline demo: {len(SAMPLES)} sample lectures, {WORKERS} workers\n"
        )
        self.say(f"demo folder {self.var_dir} (wiped; logs in {self.rel(self.logs)}/)")
        self.start_redis()
        moto_port = self.start_moto()
        # Migrations and the sample encodes are independent: run them side by side.
        with open(self.logs / "migrate.log", "wb") as log:
            migrate = subprocess.Popen(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.commands.append(self.logs / "migrate.log")
        try:
            samples = self.make_samples()
            if migrate.wait(timeout=COMMAND_TIMEOUT_SECONDS) != 0:
                raise DemoFailed("manage.py migrate failed")
        finally:
            if migrate.poll() is None:
                migrate.kill()
                migrate.wait()
        self.say(f"database ready: SQLite {self.var_dir / 'db.sqlite3'} (migrated)")
        self.create_queue(moto_port)
        self.key = self.create_api_key()
        self.receiver = VerifyingReceiver()  # bound now; it serves once the children are up
        self.receiver.register(ROOT, self.env, TENANT)
        self.api = self.start_api(self.key)
        self.start_workers()
        self.start_dispatcher()
        # Child's pre-exec hook must not run beside other threads: they start after the last.
        self.receiver.start()
        self.say(
            f"webhooks: a local receiver on {self.receiver.url} (registered for {TENANT}'s "
            "video.ready with manage.py add_webhook; it verifies every signature with the "
            "standardwebhooks library)"
        )
        states = self.watch(samples)
        self.show_captions(samples, states)
        worker_scrapes = self.scrape_workers(sum(s.status == "READY" for s in states))
        if not self.args.keep:
            stop_all(self.workers, WORKER_STOP_SECONDS)
            codes = ", ".join(str(w.proc.returncode) for w in self.workers)
            self.say(f"every video finished; workers stopped with SIGTERM (exit codes {codes})")
        ready = self.report(states)
        delivered = self.show_webhook(states)
        self.show_metrics([*worker_scrapes, self.scrape_dispatcher(delivered)])
        assert self.api is not None
        self.say(
            f"demo finished: {ready}/{len(states)} videos READY ({self.api.requests} API requests)"
        )
        if self.args.keep:
            return self.keep_up()
        return 0

    def start_workers(self) -> None:
        worker = [sys.executable, "-m", "apps.worker.video_worker.sqs_main"]
        if not self.args.keep:  # kept workers must not exit when idle
            worker += ["--exit-when-idle", str(WORKER_IDLE_EXIT_SECONDS)]
        names = [f"worker-{n}" for n in range(1, WORKERS + 1)]
        for name in names:  # the log file and the worker id share the name
            port = self.metrics_ports[name] = free_port()
            env = {"WORKER_ID": name, "WORKER_METRICS_PORT": str(port)}
            self.workers.append(self.start(name, worker, env))
        listed = ", ".join(f"{n} (/metrics on port {self.metrics_ports[n]})" for n in names)
        self.say(f"started {WORKERS} workers: {listed}; logs in {self.rel(self.logs)}/worker-N.log")
        captions = [*worker[:3], "--jobs", "captions", *worker[3:]]
        self.workers.append(self.start("captions-1", captions, {"WORKER_ID": "captions-1"}))
        self.say(
            "started a caption worker (sqs_main --jobs captions, faster-whisper tiny.en); "
            f"log in {self.rel(self.logs)}/captions-1.log"
        )

    def show_captions(self, samples: list[Sample], states: list[VideoState]) -> None:
        """Wait (bounded) for the spoken lecture's automatic track; print its first lines and
        the word error rate against the script espeak-ng read."""
        from bench.spoken_lecture import word_error_rate

        assert self.api is not None
        for sample, state in zip(samples, states, strict=True):
            if not sample.speech or state.video_id is None:
                continue
            path = f"/api/v1/videos/{state.video_id}/captions"
            deadline = time.monotonic() + CAPTIONS_WAIT_SECONDS
            while True:
                items = self.api.call("GET", path).body["items"]
                auto = next((t for t in items if t["kind"] == "auto"), None)
                if auto and auto["status"] not in ("QUEUED", "PROCESSING"):
                    break
                if time.monotonic() > deadline:
                    raise DemoTimeout(f"no automatic captions for video {state.video_id}")
                time.sleep(0.5)
            if auto["status"] != "READY":
                raise DemoFailed(f"captions of video {state.video_id}: {auto}")
            vtt = self.api.fetch(auto["vtt_url"]).raw.decode()
            cues = [b.split("\n", 1) for b in vtt.split("\n\n")[1:] if "-->" in b]
            spoken = " ".join(c[1].replace("\n", " ") for c in cues if len(c) > 1)
            self.say(
                f"captions: video {state.video_id} ({sample.title}) got an automatic "
                f"{auto['language']} track; the first lines of its WebVTT:"
            )
            for timing, text in cues[:CAPTION_LINES_SHOWN]:
                self.out.write(f"    {timing}  {text}\n")
            wer = word_error_rate(sample.speech, spoken)
            self.say(f"captions: word error rate against the script read aloud: {wer:.3f}")

    def start_dispatcher(self) -> None:
        self.dispatcher_metrics_port = free_port()
        args = [*dispatcher_args(), "--metrics-port", str(self.dispatcher_metrics_port)]
        self.dispatcher = self.start("webhook-dispatcher", args, DEV_ENV)
        self.say(
            f"webhooks: {' '.join(args[1:])} started (/metrics on port "
            f"{self.dispatcher_metrics_port}; log in {self.rel(self.dispatcher.log_path)})"
        )

    def create_api_key(self) -> str:
        args = [sys.executable, "manage.py", "create_api_key", "--tenant", TENANT]
        args += ["--create-tenant", "--name", "demo"]
        child = self.start("create-api-key", args, stdout="file")
        self.commands.append(child.log_path)
        child.proc.wait(timeout=COMMAND_TIMEOUT_SECONDS)
        stop_all([child], SERVICE_STOP_SECONDS)  # exited already: this only closes its files
        # Its stdout also carries its JSON log lines (the project logs to stdout).
        lines = child.out_path.read_text(errors="replace").splitlines()
        key = next((line.strip() for line in lines if line.startswith("avk_")), "")
        child.out_path.unlink()  # the key is shown once and kept nowhere
        if child.proc.returncode != 0 or not key.startswith("avk_"):
            raise DemoFailed(
                f"manage.py create_api_key failed (exit {child.proc.returncode}, "
                f"no key on stdout):\n{child.tail()}"
            )
        self.say(
            f"tenant {TENANT} and an API key created with manage.py create_api_key "
            f"(key {key.split('_')[1]}..., stored only as an HMAC)"
        )
        return key

    def start_api(self, key: str) -> ApiClient:
        port = free_port()
        args = [sys.executable, "-m", "uvicorn", "academy.asgi:application"]
        args += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        self.api_server = self.start("api-server", args)
        self.api_port = port
        client = ApiClient(f"http://127.0.0.1:{port}", key)
        deadline = time.monotonic() + SERVICE_START_SECONDS
        while not client.health():
            if not self.api_server.alive or time.monotonic() > deadline:
                raise DemoFailed(f"the API server did not start:\n{self.api_server.tail()}")
            time.sleep(0.1)
        self.say(
            f"API: uvicorn academy.asgi:application on http://127.0.0.1:{port} "
            f"(OpenAPI at /api/v1/openapi.json; log in {self.rel(self.logs)}/api-server.log)"
        )
        return client

    def start_redis(self) -> None:
        wanted = os.environ.get("REDIS_URL", "").strip() or DEFAULT_REDIS_URL
        if redis_answers(wanted):
            url = redis_with_db(wanted, DEMO_REDIS_DB)
            self.say(
                f"Redis: using the real Redis at {redis_place(wanted)}, DB {DEMO_REDIS_DB} "
                "(the demo writes only its own progress keys there)"
            )
        else:
            server = self.start(
                "fake-redis",
                [sys.executable, str(Path(__file__).parent / "demo_support/fake_redis_server.py")],
                stdout="pipe",
            )
            line = server.read_line(SERVICE_START_SECONDS)
            if not line.isdigit():
                raise DemoFailed(f"the embedded Redis stand-in did not start:\n{server.tail()}")
            url = f"redis://127.0.0.1:{line}/0"
            self.redis_port = int(line)
            self.say(
                f"Redis: nothing answered at {redis_place(wanted)}, so using the embedded "
                f"stand-in (fakeredis TCP server on 127.0.0.1:{line})"
            )
        self.env["REDIS_URL"] = url

    def start_moto(self) -> int:
        port = free_port()
        self.moto = self.start(
            "moto-server", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        )
        self.env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        self.moto_port = port
        self.say(f"SQS: moto server starting on http://127.0.0.1:{port}")
        return port

    def create_queue(self, port: int) -> None:
        deadline = time.monotonic() + SERVICE_START_SECONDS
        assert self.moto is not None
        while not port_open(port):
            if not self.moto.alive or time.monotonic() > deadline:
                raise DemoFailed(f"moto's server did not start:\n{self.moto.tail()}")
            time.sleep(0.1)
        import boto3

        client = boto3.client(
            "sqs",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=AWS_FAKE_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=AWS_FAKE_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=AWS_FAKE_ENV["AWS_SESSION_TOKEN"],
        )
        url = client.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        self.env["VIDEO_SQS_QUEUE_URL"] = url
        captions = client.create_queue(QueueName=CAPTIONS_QUEUE_NAME)["QueueUrl"]
        self.env["VIDEO_CAPTIONS_QUEUE_URL"] = captions
        self.say(f"SQS: queues {QUEUE_NAME} and {CAPTIONS_QUEUE_NAME} created on moto's server")

    def make_samples(self) -> list[Sample]:
        samples = scaled(SAMPLES, self.args.scale)
        folder = self.var_dir / "samples"
        for sample in samples:
            generate(sample, folder)
        listed = "; ".join(s.describe() for s in samples)
        self.say(f"made {len(samples)} sample lectures with ffmpeg lavfi: {listed}")
        return samples

    def upload(self, sample: Sample) -> dict[str, Any]:
        assert self.api is not None
        path = self.var_dir / "samples" / sample.file_name
        try:
            return self.api.upload(path, sample.title)
        except (ApiError, OSError) as exc:
            raise DemoFailed(f"uploading {path.name} failed: {exc}") from exc

    # -- watching ----------------------------------------------------------------------------
    def watch(self, samples: list[Sample]) -> list[VideoState]:
        """Upload the samples over HTTP one after another (ids follow their order); each
        video, once uploaded, is followed by a WebSocket client of its own, whose messages
        feed the progress view. Returns once all are terminal; a final GET of each video is
        kept for the report."""
        assert self.api is not None
        states = [VideoState(sample.title) for sample in samples]
        by_id: dict[int, VideoState] = {}
        changed = threading.Condition()
        self.last: dict[int, dict[str, Any]] = {}
        self.say(
            "uploading over HTTP: POST /api/v1/videos, PUT the bytes to upload.url, POST "
            "upload-complete; the live percent comes over the WebSocket "
            "/ws/v1/videos/{id}?token=<progress_token> (one client per video, the token from "
            "GET /api/v1/videos/{id}), not from Redis"
        )

        def on_message(video_id: int, message: dict[str, Any]) -> None:
            with changed:
                self._apply(by_id[video_id], message)
                changed.notify_all()

        view = ProgressView(self.out, self.tty, started=self.started)
        next_upload = 0
        while True:
            if next_upload < len(samples):
                states[next_upload].status = "UPLOADING"
                view.update(states, sum(w.alive for w in self.workers))
                accepted = self.upload(samples[next_upload])
                state = states[next_upload]
                with changed:
                    state.video_id = accepted["id"]
                    state.status = accepted["status"]
                    by_id[state.video_id] = state
                stream_url = self._stream_url(state.video_id)
                follower = LiveFollower(state.video_id, stream_url, on_message)
                self.followers.append(follower)
                follower.start()
                next_upload += 1
            with changed:
                if next_upload == len(samples) and not all(s.terminal for s in states):
                    changed.wait(REFRESH_SECONDS)
                finished = next_upload == len(samples) and all(s.terminal for s in states)
                alive = sum(w.alive for w in self.workers)
                view.update(states, alive, final=finished)
            if finished:
                break
            for follower in self.followers:
                if follower.seen.error:
                    raise DemoFailed(
                        f"following video {follower.video_id} over the WebSocket failed: "
                        f"{follower.seen.error}"
                    )
            if not alive:
                raise DemoFailed("every worker exited before all videos were finished")
            if not self.api_server or not self.api_server.alive:
                raise DemoFailed("the API server exited before all videos were finished")
        wait_all(self.followers, FOLLOWER_JOIN_SECONDS)
        self.say(
            f"WebSocket: {len(self.followers)} streams followed to their terminal message "
            f"(the api-server log has their LIVE_STREAM_OPENED/LIVE_STREAM_ENDED lines):"
        )
        for follower in self.followers:
            self.out.write(f"  {follower.seen.summary()}\n")
        for state in states:  # GET only for the report (assets, timings)
            assert state.video_id is not None
            try:
                self.last[state.video_id] = self.api.video(state.video_id)
            except (ApiError, OSError) as exc:
                raise DemoFailed(f"GET /api/v1/videos/{state.video_id} failed: {exc}") from exc
        return states

    def _stream_url(self, video_id: int) -> Callable[[], str]:
        """The follower's way to a WebSocket URL with a fresh token: GET the video."""
        assert self.api is not None
        api = self.api

        def url() -> str:
            body = api.video(video_id)
            return f"{body['live']['websocket_url']}?token={quote(body['progress_token'])}"

        return url

    def _apply(self, state: VideoState, message: dict[str, Any]) -> None:
        """One WebSocket message (docs/ARCHITECTURE.md's format) onto the video's state."""
        kind = message.get("type")
        state.status = str(message.get("status", state.status))
        if kind in ("connected", "progress"):
            when = message.get("updated_at")
            # A real Redis may hold an earlier demo run's keys for the same ids: ignore them.
            if when and ((t := _parse_time(when)) is None or t < self.started_wall):
                return
            if message.get("percent") is not None:
                try:
                    state.percent = float(message["percent"])
                except (TypeError, ValueError):
                    state.percent = None
            state.step = str(message.get("step") or "")
        elif kind == "ready":
            state.percent = 100.0
        elif kind == "failed":
            state.error_code = str((message.get("error") or {}).get("code", ""))

    # -- the end -----------------------------------------------------------------------------
    def report(self, states: list[VideoState]) -> int:
        assert self.api is not None
        rows = []
        for state in states:
            assert state.video_id is not None
            body = self.last[state.video_id]
            wall = None
            started = _parse_time(body.get("processing_started_at") or "")
            completed = _parse_time(body.get("processing_completed_at") or "")
            if started and completed:
                wall = (completed - started).total_seconds()
            elif (body.get("timings_ms") or {}).get("total"):
                wall = body["timings_ms"]["total"] / 1000
            error = body.get("error") or {}
            rows.append(
                VideoRow(
                    video_id=body["id"],
                    title=body["title"],
                    status=body["status"],
                    error_code=error.get("code", ""),
                    error_message=error.get("message", ""),
                    renditions=[str(r.get("name", "?")) for r in body.get("renditions") or []],
                    duration_seconds=body.get("duration_seconds"),
                    wall_seconds=wall,
                    master=(body.get("assets") or {}).get("master_playlist_url"),
                )
            )
        self.out.write("\n" + format_table(rows) + "\n\n")
        problems = [
            f"video {r.video_id} is {r.status}"
            + (f" ({r.error_code}: {r.error_message})" if r.error_code else "")
            for r in rows
            if r.status != "READY"
        ]
        for row in rows:
            if row.status == "READY":
                error = self.check_master(row.master) if row.master else "it has no assets URL"
                if error:
                    problems.append(f"video {row.video_id}: {error}")
        ready = sum(r.status == "READY" for r in rows)
        if problems:
            raise DemoFailed("; ".join(problems))
        self.out.write(
            f"Checked: all {ready} master playlists fetched through their assets URLs "
            "decode with ffmpeg (every rendition).\n\n"
        )
        self.out.write(playback_hints(rows, self.media_root) + "\n\n")
        return ready

    def show_webhook(self, states: list[VideoState]) -> int:
        """Wait (bounded) for every READY video's video.ready delivery; print one."""
        assert self.receiver is not None
        ids = {s.video_id for s in states if s.status == "READY" and s.video_id is not None}
        got = self.receiver.ready_for(ids, WEBHOOK_WAIT_SECONDS)
        missing = ids - {r.payload["data"]["id"] for r in got if r.payload}
        if missing:
            unverified = sum(not r.verified for r in self.receiver.received)
            raise DemoFailed(
                f"no signed video.ready webhook arrived for video(s) {sorted(missing)} within "
                f"{WEBHOOK_WAIT_SECONDS} s ({len(self.receiver.received)} received, "
                f"{unverified} with a bad signature); see {self.rel(self.logs)}/"
                "webhook-dispatcher.log"
            )
        one = got[0]
        self.say(
            f"{describe(one)} with the standardwebhooks library, at {self.receiver.url} "
            f"(video.ready arrived signed for all {len(ids)} videos)"
        )
        return len(got)

    def scrape_workers(self, ready: int) -> list[metrics_sample.Scrape]:
        """Each worker's /metrics, once their job counters count every READY video (a worker
        counts a job from its completion log line, which follows the row's update)."""

        def read() -> list[metrics_sample.Scrape]:
            scrapes = []
            for name, port in self.metrics_ports.items():
                url = f"http://127.0.0.1:{port}/metrics"
                try:
                    scrapes.append(metrics_sample.fetch(name, url))
                except OSError as exc:
                    raise DemoFailed(f"{name}'s /metrics ({url}) did not answer: {exc}") from exc
            return scrapes

        def counted(scrapes: list[metrics_sample.Scrape]) -> bool:
            jobs = sum(s.total("video_jobs_total", 'outcome="ready"') for s in scrapes)
            return jobs >= ready

        return metrics_sample.wait_for(read, counted, METRICS_WAIT_SECONDS)

    def scrape_dispatcher(self, delivered: int) -> metrics_sample.Scrape:
        """The dispatcher's /metrics, once it counts the deliveries the receiver got (it
        counts an attempt from its log line, written after the receiver's answer)."""
        url = f"http://127.0.0.1:{self.dispatcher_metrics_port}/metrics"

        def read() -> list[metrics_sample.Scrape]:
            try:
                return [metrics_sample.fetch("webhooks", url)]
            except OSError as exc:
                raise DemoFailed(
                    f"the dispatcher's /metrics ({url}) did not answer: {exc}"
                ) from exc

        def counted(scrapes: list[metrics_sample.Scrape]) -> bool:
            total = scrapes[0].total("video_webhook_deliveries_total", 'result="delivered"')
            return total >= delivered

        return metrics_sample.wait_for(read, counted, METRICS_WAIT_SECONDS)[0]

    def show_metrics(self, worker_scrapes: list[metrics_sample.Scrape]) -> None:
        """The API's /metrics now, the workers' (scraped when the last video was done) and the
        dispatcher's: saved whole, a sample printed."""
        url = f"http://127.0.0.1:{self.api_port}/metrics"
        try:
            api = metrics_sample.fetch("api", url)
        except OSError as exc:
            raise DemoFailed(f"the API's /metrics ({url}) did not answer: {exc}") from exc
        scrapes = [api, *worker_scrapes]
        metrics_sample.save(scrapes, self.logs)
        self.say(
            f"metrics: GET /metrics of the API, each worker and the webhook dispatcher, saved "
            f"whole as "
            f"{self.rel(self.logs)}/metrics-<name>.txt; a sample:"
        )
        for line in metrics_sample.sample(scrapes):
            self.out.write(f"  {line}\n")

    def kept(self) -> list[tuple[str, Child, int | None]]:
        """What a --keep run leaves up: (what, child, its port)."""
        listed: list[tuple[str, Child, int | None]] = []
        if self.api_server is not None:
            listed.append(("API server (and the web page)", self.api_server, self.api_port))
        for worker in self.workers:
            port = self.metrics_ports.get(worker.name)  # the caption worker exports none
            listed.append((f"{worker.name}{' (/metrics)' if port else ''}", worker, port))
        if self.dispatcher is not None:
            port = self.dispatcher_metrics_port
            listed.append(("webhook dispatcher (/metrics)", self.dispatcher, port))
        if self.moto is not None:
            listed.append(("moto's SQS server", self.moto, self.moto_port))
        stand_in = next((c for c in self.children if c.name == "fake-redis"), None)
        if stand_in is not None:
            listed.append(("Redis stand-in", stand_in, self.redis_port))
        return listed

    def keep_up(self) -> int:
        """--keep: print where to look, then wait for Ctrl-C or SIGTERM (exit 0)."""
        signal.alarm(0)  # --timeout bounds the run, not the time it is kept
        assert self.receiver is not None
        listed = self.kept()
        self.out.write("\nKept running (Ctrl-C or SIGTERM stops everything):\n")
        for what, child, port in listed:
            where = f"port {port}" if port else "no port"
            self.out.write(f"  {what}: pid {child.proc.pid}, {where}\n")
        self.out.write(f"  webhook receiver: in this process, port {self.receiver.port}\n")
        ports = [port for _what, _child, port in listed if port] + [self.receiver.port]
        self.out.write(f"kept ports: {' '.join(str(p) for p in ports)}\n")
        self.out.write(f"Sign in with the API key: {self.key}\n")
        self.out.write(f"Web page: http://127.0.0.1:{self.api_port}/\n")
        self.out.flush()
        try:
            while True:
                gone = [what for what, child, _port in listed if not child.alive]
                if gone:
                    raise DemoFailed(f"{', '.join(gone)} exited while kept up")
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.out.write("\nstopping everything the demo started\n")
            return 0

    def check_master(self, url: str) -> str | None:
        """The master playlist answers at its URL, and ffmpeg decodes every rendition from
        there (segments through the API's /media/ route, with HTTP range requests)."""
        assert self.api is not None
        try:
            answer = self.api.fetch(url)
        except (ApiError, OSError) as exc:
            return f"GET {url} failed: {exc}"
        text = answer.raw.decode(errors="replace")
        if "#EXT-X-STREAM-INF" not in text:
            return f"{url} is not an HLS master playlist ({answer.headers.get('content-type')})"
        return verify_master(url)

    def show_logs(self) -> None:
        for child in [*self.workers, self.api_server, self.dispatcher]:
            if child is not None:
                self.out.write(f"\n--- last lines of {child.log_path} ---\n{child.tail(20)}\n")
        if not self.workers:  # it failed before the workers: a command's log says why
            for log in self.commands[-1:]:
                text = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                self.out.write(f"\n--- last lines of {log} ---\n{text}\n")

    def stop_everything(self) -> None:
        for follower in self.followers:
            follower.stop()
        # The dispatcher finishes the batch in flight, as the workers finish their job.
        first = [*self.workers, *([self.dispatcher] if self.dispatcher else [])]
        stop_all(first, WORKER_STOP_SECONDS)
        stop_all([c for c in self.children if c not in first], SERVICE_STOP_SECONDS)
        if self.receiver is not None:
            self.receiver.stop()


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stdout
    # SIGINT too: a shell starts a background job with SIGINT ignored, and Python keeps that.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)

    # One alarm bounds the whole run, whichever step hangs.
    def give_up(_signum: int, _frame: Any) -> None:
        raise DemoTimeout(f"gave up after {args.timeout} s (--timeout)")

    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout)
    demo = Demo(args, out)
    code = 1
    try:
        code = demo.run()
    except KeyboardInterrupt:
        out.write("\ninterrupted: stopping everything the demo started\n")
        code = 130
    except DemoFailed as exc:
        out.write(f"\nDEMO FAILED: {exc}\n")
        demo.show_logs()
    except Exception as exc:  # noqa: BLE001 - anything else still ends in logs and cleanup
        out.write(f"\nDEMO FAILED: {type(exc).__name__}: {exc}\n")
        demo.show_logs()
    finally:
        signal.alarm(0)
        # Cleanup is bounded (SIGKILL after a timeout) and must not be cut short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        demo.stop_everything()
        out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
