"""What the demo runs beside itself, started and stopped in one place: its folder, Redis (the
developer's, in a DB of its own, or the embedded stand-in), moto's SQS server and the queue,
the migrated SQLite database, a tenant and API key, the HTTP API, the workers and the webhook
dispatcher; what a --keep run leaves up; and the stop of everything, on every path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import parse_qsl, urlencode, urlparse

from .api_client import ApiClient
from .failures import DemoFailed
from .processes import ROOT, Child, free_port, port_open, stop_all
from .webhooks import DEV_ENV, dispatcher_args

DEFAULT_VAR_DIR = ROOT / "var" / "demo"
# Written into the demo folder: only a folder holding it (or an empty one) is ever wiped.
MARKER = ".academy-demo"
TENANT = "demo-academy"
QUEUE_NAME = "academy-video-jobs"
CAPTIONS_QUEUE_NAME = "academy-caption-jobs"
WORKERS = 2
# A real Redis is shared with the developer: the demo writes only to a DB of its own.
DEMO_REDIS_DB = 9
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_PING_TIMEOUT_SECONDS = 0.5
# Workers get a short shutdown grace so Ctrl-C is quick; stop_all waits a bit longer.
WORKER_GRACE_SECONDS = 5
WORKER_STOP_SECONDS = WORKER_GRACE_SECONDS + 5
SERVICE_STOP_SECONDS = 5
# Only if the demo itself vanished without stopping them (and not on Linux, where the
# kernel's parent-death signal does it): idle workers then exit on their own.
WORKER_IDLE_EXIT_SECONDS = 120
SERVICE_START_SECONDS = 60  # a first run compiles moto's many modules
COMMAND_TIMEOUT_SECONDS = 180
# How often a kept-up stack looks at its children.
KEEP_CHECK_SECONDS = 0.5
# The demo's key is the only one: a limit that it stays well inside.
API_RATE = {"VIDEO_API_RATE_PER_SECOND": "20", "VIDEO_API_RATE_BURST": "100"}
AWS_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_SESSION_TOKEN": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never wait on an instance-metadata lookup
}

T = TypeVar("T")


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


def rel(path: Path) -> str:
    """A path as short as it can be while still unambiguous from the repository."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


class Stack:
    """The demo's services. Each `start_…`/`create_…` says what it did through `say`;
    `stop()` ends every child it started, whatever happened before."""

    def __init__(self, var_dir: Path, say: Callable[[str], None], *, keep: bool) -> None:
        self.var_dir = var_dir
        self.logs = var_dir / "logs"
        self.media_root = var_dir / "media"
        self.say = say
        self.keep = keep
        self.env = self._base_env()
        self.children: list[Child] = []
        self.workers: list[Child] = []
        self.commands: list[Path] = []  # logs of one-shot commands, shown on failure
        self.moto: Child | None = None
        self.api_server: Child | None = None
        self.dispatcher: Child | None = None
        self.redis_port: int | None = None  # the embedded stand-in's, when it runs
        self.api_port = 0
        self.moto_port = 0
        self.dispatcher_metrics_port = 0
        self.metrics_ports: dict[str, int] = {}  # worker name -> its exporter's port

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

    # -- starting --------------------------------------------------------------------------
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
                [sys.executable, str(Path(__file__).parent / "fake_redis_server.py")],
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

    def start_moto(self) -> None:
        port = free_port()
        self.moto = self.start(
            "moto-server", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        )
        self.env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        self.moto_port = port
        self.say(f"SQS: moto server starting on http://127.0.0.1:{port}")

    def migrate_while(self, work: Callable[[], T]) -> T:
        """`manage.py migrate` runs while `work` does (they are independent); `work`'s result."""
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
            result = work()
            if migrate.wait(timeout=COMMAND_TIMEOUT_SECONDS) != 0:
                raise DemoFailed("manage.py migrate failed")
        finally:
            if migrate.poll() is None:
                migrate.kill()
                migrate.wait()
        self.say(f"database ready: SQLite {self.var_dir / 'db.sqlite3'} (migrated)")
        return result

    def create_queue(self) -> None:
        deadline = time.monotonic() + SERVICE_START_SECONDS
        assert self.moto is not None
        while not port_open(self.moto_port):
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
            f"(OpenAPI at /api/v1/openapi.json; log in {rel(self.logs)}/api-server.log)"
        )
        return client

    def start_workers(self) -> None:
        worker = [sys.executable, "-m", "apps.worker.video_worker.sqs_main"]
        if not self.keep:  # kept workers must not exit when idle
            worker += ["--exit-when-idle", str(WORKER_IDLE_EXIT_SECONDS)]
        names = [f"worker-{n}" for n in range(1, WORKERS + 1)]
        for name in names:  # the log file and the worker id share the name
            port = self.metrics_ports[name] = free_port()
            env = {"WORKER_ID": name, "WORKER_METRICS_PORT": str(port)}
            self.workers.append(self.start(name, worker, env))
        listed = ", ".join(f"{n} (/metrics on port {self.metrics_ports[n]})" for n in names)
        self.say(f"started {WORKERS} workers: {listed}; logs in {rel(self.logs)}/worker-N.log")
        captions = [*worker[:3], "--jobs", "captions", *worker[3:]]
        self.workers.append(self.start("captions-1", captions, {"WORKER_ID": "captions-1"}))
        self.say(
            "started a caption worker (sqs_main --jobs captions, faster-whisper tiny.en); "
            f"log in {rel(self.logs)}/captions-1.log"
        )

    def start_dispatcher(self) -> None:
        self.dispatcher_metrics_port = free_port()
        args = [*dispatcher_args(), "--metrics-port", str(self.dispatcher_metrics_port)]
        self.dispatcher = self.start("webhook-dispatcher", args, DEV_ENV)
        self.say(
            f"webhooks: {' '.join(args[1:])} started (/metrics on port "
            f"{self.dispatcher_metrics_port}; log in {rel(self.dispatcher.log_path)})"
        )

    # -- while it runs ---------------------------------------------------------------------
    @property
    def workers_alive(self) -> int:
        return sum(w.alive for w in self.workers)

    @property
    def api_alive(self) -> bool:
        return self.api_server is not None and self.api_server.alive

    def worker_metrics_urls(self) -> dict[str, str]:
        return {n: f"http://127.0.0.1:{p}/metrics" for n, p in self.metrics_ports.items()}

    # -- stopping --------------------------------------------------------------------------
    def stop_workers(self) -> str:
        """SIGTERM to the workers, each finishing its job first; their exit codes."""
        stop_all(self.workers, WORKER_STOP_SECONDS)
        return ", ".join(str(w.proc.returncode) for w in self.workers)

    def stop(self) -> None:
        # The dispatcher finishes the batch in flight, as the workers finish their job.
        first = [*self.workers, *([self.dispatcher] if self.dispatcher else [])]
        stop_all(first, WORKER_STOP_SECONDS)
        stop_all([c for c in self.children if c not in first], SERVICE_STOP_SECONDS)

    def show_logs(self, out: TextIO) -> None:
        """The last lines of the long-running children's logs (or of the last command's, when
        it failed before the workers): what a failed run shows."""
        for child in [*self.workers, self.api_server, self.dispatcher]:
            if child is not None:
                out.write(f"\n--- last lines of {child.log_path} ---\n{child.tail(20)}\n")
        if not self.workers:
            for log in self.commands[-1:]:
                text = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                out.write(f"\n--- last lines of {log} ---\n{text}\n")

    # -- --keep ----------------------------------------------------------------------------
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

    def keep_up(self, out: TextIO, key: str, receiver_port: int) -> int:
        """Print where to look, then wait for Ctrl-C or SIGTERM (exit 0)."""
        listed = self.kept()
        out.write("\nKept running (Ctrl-C or SIGTERM stops everything):\n")
        for what, child, port in listed:
            where = f"port {port}" if port else "no port"
            out.write(f"  {what}: pid {child.proc.pid}, {where}\n")
        out.write(f"  webhook receiver: in this process, port {receiver_port}\n")
        ports = [port for _what, _child, port in listed if port] + [receiver_port]
        out.write(f"kept ports: {' '.join(str(p) for p in ports)}\n")
        out.write(f"Sign in with the API key: {key}\n")
        out.write(f"Web page: http://127.0.0.1:{self.api_port}/\n")
        out.flush()
        try:
            while True:
                gone = [what for what, child, _port in listed if not child.alive]
                if gone:
                    raise DemoFailed(f"{', '.join(gone)} exited while kept up")
                time.sleep(KEEP_CHECK_SECONDS)
        except KeyboardInterrupt:
            out.write("\nstopping everything the demo started\n")
            return 0
