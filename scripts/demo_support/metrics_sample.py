"""The demo's look at /metrics: the API's (GET /metrics), each worker's exporter
(WORKER_METRICS_PORT) and the webhook dispatcher's (--metrics-port), saved whole and sampled
for the terminal."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .failures import DemoFailed

FETCH_TIMEOUT_SECONDS = 5
# API routes shown in the sample: the busiest ones.
API_ROUTES_SHOWN = 4
WEBHOOK_ATTEMPTS = "video_webhook_deliveries_total"
WEBHOOK_SEND = "video_webhook_send_duration_seconds"
_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


@dataclass(frozen=True)
class Scrape:
    name: str  # "api", "worker-1", …
    url: str
    text: str

    def lines(self, metric: str, *labels: str) -> list[tuple[str, float]]:
        """(line, value) of `metric`'s samples whose labels contain every `labels` text."""
        found = []
        for line in self.text.splitlines():
            match = _SAMPLE_LINE.match(line)
            if match and match[1] == metric and all(x in (match[2] or "") for x in labels):
                found.append((line, float(match[3])))
        return found

    def total(self, metric: str, *labels: str) -> float:
        return sum(value for _line, value in self.lines(metric, *labels))


def fetch(name: str, url: str) -> Scrape:
    """GET `url` (Prometheus text); OSError when it does not answer."""
    # Only ever the demo's own http://127.0.0.1:PORT/metrics.
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as answer:  # noqa: S310
        return Scrape(name, url, answer.read().decode())


def wait_for(
    read: Callable[[], list[Scrape]],
    done: Callable[[list[Scrape]], bool],
    timeout: float,
    pause: float = 0.2,
) -> list[Scrape]:
    """Scrape until `done` holds (a counter caught up with what happened) or `timeout`;
    the last scrapes either way."""
    deadline = time.monotonic() + timeout
    scrapes = read()
    while not done(scrapes) and time.monotonic() < deadline:
        time.sleep(pause)
        scrapes = read()
    return scrapes


def save(scrapes: list[Scrape], folder: Path) -> list[Path]:
    paths = []
    for scrape in scrapes:
        path = folder / f"metrics-{scrape.name}.txt"
        path.write_text(scrape.text)
        paths.append(path)
    return paths


def sample(scrapes: list[Scrape]) -> list[str]:
    """A handful of lines: the API's busiest routes, jobs by outcome and the encode stage's
    count and sum (each worker), webhook attempts by result and how many sends were timed."""
    shown = []
    for scrape in scrapes:
        if scrape.name == "api":
            requests = sorted(scrape.lines("api_requests_total"), key=lambda lv: -lv[1])
            picked = [line for line, _value in requests[:API_ROUTES_SHOWN]]
        elif scrape.name == "webhooks":
            picked = [line for line, value in scrape.lines(WEBHOOK_ATTEMPTS) if value]
            picked += [line for line, _value in scrape.lines(f"{WEBHOOK_SEND}_count")]
        else:
            picked = [line for line, _value in scrape.lines("video_jobs_total")]
            for suffix in ("count", "sum"):
                metric = f"video_stage_duration_seconds_{suffix}"
                picked += [line for line, _value in scrape.lines(metric, 'stage="encode"')]
        shown += [f"{scrape.name:<9} {line}" for line in picked]
    return shown


def fetch_or_fail(name: str, url: str) -> Scrape:
    """`fetch`, with DemoFailed (naming the exporter) when it does not answer."""
    try:
        return fetch(name, url)
    except OSError as exc:
        raise DemoFailed(f"{name}'s /metrics ({url}) did not answer: {exc}") from exc


def scrape_workers(urls: dict[str, str], ready: int, timeout: float) -> list[Scrape]:
    """Each worker's /metrics, once their job counters count every READY video (a worker
    counts a job from its completion log line, which follows the row's update)."""

    def read() -> list[Scrape]:
        return [fetch_or_fail(name, url) for name, url in urls.items()]

    def counted(scrapes: list[Scrape]) -> bool:
        return sum(s.total("video_jobs_total", 'outcome="ready"') for s in scrapes) >= ready

    return wait_for(read, counted, timeout)


def scrape_dispatcher(url: str, delivered: int, timeout: float) -> Scrape:
    """The dispatcher's /metrics, once it counts the deliveries the receiver got (it counts
    an attempt from its log line, written after the receiver's answer)."""

    def counted(scrapes: list[Scrape]) -> bool:
        return scrapes[0].total(WEBHOOK_ATTEMPTS, 'result="delivered"') >= delivered

    return wait_for(lambda: [fetch_or_fail("webhooks", url)], counted, timeout)[0]
