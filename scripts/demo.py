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
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # bench.spoken_lecture

from demo_support import metrics_sample
from demo_support.api_client import ApiClient, ApiError
from demo_support.failures import DemoFailed, DemoTimeout
from demo_support.live_follow import LiveFollower, wait_all
from demo_support.processes import ROOT
from demo_support.progress import ProgressView, VideoState
from demo_support.report import parse_time, report
from demo_support.samples import SAMPLES, Sample, generate, scaled
from demo_support.stack import DEFAULT_VAR_DIR, TENANT, WORKERS, Stack, prepare_var_dir, rel
from demo_support.webhooks import VerifyingReceiver, signed_ready_for_all

# After the spoken lecture is READY: its automatic captions (model load + transcription).
CAPTIONS_WAIT_SECONDS = 180
CAPTION_LINES_SHOWN = 4
QUICK_SCALE = 0.25
DEFAULT_TIMEOUT_SECONDS = 600
# Redraw rate of the progress view (the WebSocket messages arrive as they come).
REFRESH_SECONDS = 0.5
# The followers' threads end at once when asked; this only bounds a stuck one.
FOLLOWER_JOIN_SECONDS = 5
# After the last video is READY: its video.ready webhook (dispatcher polling every 0.5 s).
WEBHOOK_WAIT_SECONDS = 30
# After the last video is READY: the workers' job counters catch up (their completion log).
METRICS_WAIT_SECONDS = 10


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


class Demo:
    """The story of `make demo`: start the stack, upload the samples and follow them live,
    report, and stay up with --keep. Starting and stopping are the stack's
    (demo_support/stack.py); the closing report is demo_support/report.py's."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.tty = out.isatty() and os.environ.get("TERM", "") != "dumb"
        self.var_dir = Path(args.var_dir).resolve()
        self.started = time.monotonic()
        self.started_wall = datetime.now(UTC)
        self.stack = Stack(self.var_dir, self.say, keep=args.keep)
        self.api: ApiClient | None = None
        self.key = ""  # the API key; printed only at the end of a --keep run
        self.receiver: VerifyingReceiver | None = None
        self.followers: list[LiveFollower] = []

    def say(self, message: str) -> None:
        self.out.write(f"[{time.monotonic() - self.started:6.1f}s] {message}\n")
        self.out.flush()

    # -- the story -------------------------------------------------------------------------
    def run(self) -> int:
        stack = self.stack
        prepare_var_dir(self.var_dir)
        self.out.write(
            f"Academy video pipeline demo: {len(SAMPLES)} sample lectures, {WORKERS} workers\n"
        )
        self.say(f"demo folder {self.var_dir} (wiped; logs in {rel(stack.logs)}/)")
        stack.start_redis()
        stack.start_moto()
        samples = stack.migrate_while(self.make_samples)
        stack.create_queue()
        self.key = stack.create_api_key()
        self.receiver = VerifyingReceiver()  # bound now; it serves once the children are up
        self.receiver.register(ROOT, stack.env, TENANT)
        self.api = stack.start_api(self.key)
        stack.start_workers()
        stack.start_dispatcher()
        # Child's pre-exec hook must not run beside other threads: they start after the last.
        self.receiver.start()
        self.say(
            f"webhooks: a local receiver on {self.receiver.url} (registered for {TENANT}'s "
            "video.ready with manage.py add_webhook; it verifies every signature with the "
            "standardwebhooks library)"
        )
        states, bodies = self.watch(samples)
        self.show_captions(samples, states)
        ready_ids = {s.video_id for s in states if s.status == "READY" and s.video_id}
        worker_scrapes = metrics_sample.scrape_workers(
            stack.worker_metrics_urls(), len(ready_ids), METRICS_WAIT_SECONDS
        )
        if not self.args.keep:
            codes = stack.stop_workers()
            self.say(f"every video finished; workers stopped with SIGTERM (exit codes {codes})")
        ready = report(self.out, self.api, bodies, stack.media_root)
        self.say(
            signed_ready_for_all(
                self.receiver,
                ready_ids,
                WEBHOOK_WAIT_SECONDS,
                f"{rel(stack.logs)}/webhook-dispatcher.log",
            )
        )
        self.show_metrics(worker_scrapes, delivered=len(ready_ids))
        self.say(
            f"demo finished: {ready}/{len(states)} videos READY ({self.api.requests} API requests)"
        )
        if self.args.keep:
            signal.alarm(0)  # --timeout bounds the run, not the time it is kept
            return stack.keep_up(self.out, self.key, self.receiver.port)
        return 0

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
    def watch(self, samples: list[Sample]) -> tuple[list[VideoState], list[dict[str, Any]]]:
        """Upload the samples over HTTP one after another (ids follow their order); each
        video, once uploaded, is followed by a WebSocket client of its own, whose messages
        feed the progress view. Returns once all are terminal, with a final GET of each
        video for the report."""
        assert self.api is not None
        states = [VideoState(sample.title) for sample in samples]
        by_id: dict[int, VideoState] = {}
        changed = threading.Condition()
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
                view.update(states, self.stack.workers_alive)
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
                alive = self.stack.workers_alive
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
            if not self.stack.api_alive:
                raise DemoFailed("the API server exited before all videos were finished")
        wait_all(self.followers, FOLLOWER_JOIN_SECONDS)
        self.say(
            f"WebSocket: {len(self.followers)} streams followed to their terminal message "
            f"(the api-server log has their LIVE_STREAM_OPENED/LIVE_STREAM_ENDED lines):"
        )
        for follower in self.followers:
            self.out.write(f"  {follower.seen.summary()}\n")
        bodies = []
        for state in states:  # GET only for the report (assets, timings)
            assert state.video_id is not None
            try:
                bodies.append(self.api.video(state.video_id))
            except (ApiError, OSError) as exc:
                raise DemoFailed(f"GET /api/v1/videos/{state.video_id} failed: {exc}") from exc
        return states, bodies

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
            if when and ((t := parse_time(when)) is None or t < self.started_wall):
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
    def show_metrics(self, worker_scrapes: list[metrics_sample.Scrape], delivered: int) -> None:
        """The API's /metrics now, the workers' (scraped when the last video was done) and the
        dispatcher's (once it counts every delivery): saved whole, a sample printed."""
        stack = self.stack
        api = metrics_sample.fetch_or_fail("api", f"http://127.0.0.1:{stack.api_port}/metrics")
        dispatcher = metrics_sample.scrape_dispatcher(
            f"http://127.0.0.1:{stack.dispatcher_metrics_port}/metrics",
            delivered,
            METRICS_WAIT_SECONDS,
        )
        scrapes = [api, *worker_scrapes, dispatcher]
        metrics_sample.save(scrapes, stack.logs)
        self.say(
            "metrics: GET /metrics of the API, each worker and the webhook dispatcher, saved "
            f"whole as {rel(stack.logs)}/metrics-<name>.txt; a sample:"
        )
        for line in metrics_sample.sample(scrapes):
            self.out.write(f"  {line}\n")

    def stop_everything(self) -> None:
        for follower in self.followers:
            follower.stop()
        self.stack.stop()
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
        demo.stack.show_logs(out)
    except Exception as exc:  # noqa: BLE001 - anything else still ends in logs and cleanup
        out.write(f"\nDEMO FAILED: {type(exc).__name__}: {exc}\n")
        demo.stack.show_logs(out)
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
