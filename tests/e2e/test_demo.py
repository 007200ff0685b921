"""`make demo` end to end: scripts/demo.py --quick as a user runs it, checked from outside.

Redis points at a closed port, so the demo must bring its embedded stand-in; DATABASE_URL
points at a database that does not exist, so the demo must use its own SQLite file. The demo
goes through the HTTP API: its server's log shows every call, and the key never appears.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.harness import ROOT, free_port

pytestmark = pytest.mark.slow

# The quick demo takes ~20 s on two idle cores; the margin is for a busy machine.
DEMO_TIMEOUT_SECONDS = 150
# A table row: id, title, READY, renditions, duration, wall time, master playlist URL.
READY_ROW = re.compile(
    r"^(\d+)\s+(.+?)\s+READY\s+(\S+)\s+[\d.]+ s\s+[\d.]+ s\s+(http://127\.0\.0\.1:\d+/media/\S+)$",
    re.M,
)
PROGRESS_LINE = re.compile(r"^\[\s*([\d.]+)s\] #[\d-]+\s+(.+?)\s+\[[#-]+\]", re.M)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("demo") / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_"))}
    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/not_the_demo_database"
    env.pop("DEMO_SECONDS_SCALE", None)
    done = subprocess.run(
        [sys.executable, "scripts/demo.py", "--quick", "--var-dir", str(var_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )
    return done, var_dir


def test_demo_ends_with_three_ready_videos_whose_playlists_exist(demo_run):
    done, var_dir = demo_run
    out = done.stdout
    assert done.returncode == 0, f"{out[-5000:]}\n--- stderr ---\n{done.stderr[-3000:]}"
    assert "embedded stand-in (fakeredis TCP server" in out
    rows = READY_ROW.findall(out)
    assert len(rows) == 3, out[-3000:]
    # The ladder never upscales: each sample's renditions follow its size.
    assert sorted(r[2] for r in rows) == ["360p", "480p/360p", "720p/480p/360p"]
    media = (var_dir / "media").resolve()
    for _video_id, _title, _renditions, master in rows:
        # /media/<storage key>: the published file in the demo's storage folder.
        path = media / urlsplit(master).path.removeprefix("/media/")
        assert path.name == "master.m3u8" and path.is_file(), master
        assert path.resolve().is_relative_to(media)
        assert "#EXT-X-STREAM-INF" in path.read_text()
    assert "master playlists fetched through their assets URLs decode with ffmpeg" in out
    assert (var_dir / "db.sqlite3").is_file()
    assert f"ffplay {rows[0][3]}" in out


def _api_calls(var_dir: Path) -> list[tuple[str, str, int]]:
    calls = []
    for line in (var_dir / "logs" / "api-server.log").read_text().splitlines():
        if line.startswith("{") and '"API_REQUEST"' in line:
            event = json.loads(line)
            calls.append((event["method"], event["path"], event["status"]))
    return calls


def test_demo_uploads_and_follows_every_video_through_the_api(demo_run):
    done, var_dir = demo_run
    out = done.stdout
    assert re.search(r"tenant demo-academy and an API key created .*\(key [0-9a-f]{12}\.\.\.", out)
    calls = _api_calls(var_dir)
    ids = [int(i) for i, *_ in READY_ROW.findall(out)]
    assert sorted(ids) == [1, 2, 3]
    assert calls.count(("POST", "/api/v1/videos", 201)) == 3
    for video_id in ids:
        assert ("PUT", f"/api/v1/videos/{video_id}/source", 200) in calls
        assert ("POST", f"/api/v1/videos/{video_id}/upload-complete", 202) in calls
        assert ("GET", f"/api/v1/videos/{video_id}", 200) in calls
    # The playlists were checked through the API's /media/ route, segments included.
    media = [path for method, path, status in calls if path.startswith("/media/")]
    assert any(p.endswith("master.m3u8") for p in media) and any(p.endswith(".ts") for p in media)
    assert [c for c in calls if c[2] >= 400] == []  # no refused call, no 429
    assert "uploading over HTTP: POST /api/v1/videos" in out
    # The key is shown nowhere: not in the output, not in any log.
    assert "avk_" not in out
    for log in (var_dir / "logs").iterdir():
        assert "avk_" not in log.read_text(errors="replace"), log.name


def test_demo_stops_what_it_started_and_keeps_its_logs(demo_run):
    done, var_dir = demo_run
    out = done.stdout
    moto_port = int(re.search(r"moto server starting on http://127\.0\.0\.1:(\d+)", out)[1])
    redis_port = int(re.search(r"fakeredis TCP server on 127\.0\.0\.1:(\d+)", out)[1])
    api_port = int(re.search(r"application on http://127\.0\.0\.1:(\d+)", out)[1])
    assert not _listening(moto_port)
    assert not _listening(redis_port)
    assert not _listening(api_port)
    assert "workers stopped with SIGTERM (exit codes 0, 0)" in out
    for name in ("worker-1.log", "worker-2.log"):
        assert '"event": "WORKER_SHUTDOWN"' in (var_dir / "logs" / name).read_text()


def test_demo_progress_lines_stay_readable_without_a_terminal(demo_run):
    done, _var_dir = demo_run
    out = done.stdout
    assert "\x1b[" not in out  # no cursor movement in a log file
    times: dict[str, list[float]] = {}
    for at, title in PROGRESS_LINE.findall(out):
        times.setdefault(title, []).append(float(at))
    assert len(times) == 3, out[-3000:]
    for title, stamps in times.items():
        # At most one line a second per video; the final state may follow sooner.
        gaps = [b - a for a, b in itertools.pairwise(stamps[:-1])]
        assert all(gap >= 0.9 for gap in gaps), (title, stamps)
