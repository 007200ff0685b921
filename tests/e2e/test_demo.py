"""`make demo` end to end: scripts/demo.py --quick as a user runs it, checked from outside.

Redis points at a closed port, so the demo must bring its embedded stand-in; DATABASE_URL
points at a database that does not exist, so the demo must use its own SQLite file.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import ROOT, free_port

pytestmark = pytest.mark.slow

# The quick demo takes ~20 s on two idle cores; the margin is for a busy machine.
DEMO_TIMEOUT_SECONDS = 150
# A table row: id, title, READY, renditions, duration, wall time, master playlist path.
READY_ROW = re.compile(r"^(\d+)\s+(.+?)\s+READY\s+(\S+)\s+[\d.]+ s\s+[\d.]+ s\s+(/\S+)$", re.M)
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
        path = Path(master)
        assert path.name == "master.m3u8" and path.is_file(), master
        assert path.resolve().is_relative_to(media)
        assert "#EXT-X-STREAM-INF" in path.read_text()
    assert (var_dir / "db.sqlite3").is_file()
    assert f"ffplay {rows[0][3]}" in out


def test_demo_stops_what_it_started_and_keeps_its_logs(demo_run):
    done, var_dir = demo_run
    out = done.stdout
    moto_port = int(re.search(r"moto server starting on http://127\.0\.0\.1:(\d+)", out)[1])
    redis_port = int(re.search(r"fakeredis TCP server on 127\.0\.0\.1:(\d+)", out)[1])
    assert not _listening(moto_port)
    assert not _listening(redis_port)
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
