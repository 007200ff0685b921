"""Crash recovery with real processes: the worker (`sqs_main`, real ffmpeg) and
`reconcile_video_processing --loop 1`, over moto's SQS, PostgreSQL, Redis and local storage.

A worker killed with SIGKILL mid-encode, or frozen past its lease, loses the video to another
worker through reconcile; a worker that is alive keeps it however long the encode takes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import redis

from apps.support.video.models import Tenant, Video
from bench.harness import ProcessLog, wait_until
from src.application.storage_keys import job_output_prefix
from src.infrastructure.cache import redis_keys as cache
from tests.e2e.harness import TEST_REDIS_URL, worker_args
from tests.media import decodes, make_clip, paced_path

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The workers' ffmpeg reads at most PACE times real time (tests.media.paced_ffmpeg), so an
# encode lasts at least seconds / PACE however fast the machine: 5 s for the clip, long enough
# to kill or freeze in the middle of it; 10 s for the long-job test, several leases.
PACE = 10
CLIP_SECONDS = 50
LONG_CLIP_SECONDS = 100
# Short lease and TTL so that recovery takes seconds: the heartbeat is refreshed every 1 s.
LEASE_SECONDS = 4
HEARTBEAT_TTL = 3
RECONCILE = [sys.executable, "manage.py", "reconcile_video_processing", "--loop", "1"]
# Recovery must not wait on SQS: the killed worker's message stays invisible this long.
VISIBILITY_TIMEOUT = 300
# Kill -> claimed again: heartbeat TTL (3 s) + one reconcile tick (1 s) + SQS receive,
# with room for a loaded machine; still far below the visibility timeout.
RECOVERY_BOUND_SECONDS = 30


@pytest.fixture(scope="module", autouse=True)
def _remove_paced_folder():
    yield
    shutil.rmtree(PACED_FOLDER, ignore_errors=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "lecture.mp4", 640, 360, CLIP_SECONDS)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "long-lecture.mp4"
    return make_clip(path, 640, 360, LONG_CLIP_SECONDS)


@pytest.fixture
def tenant(transactional_db):
    # A random id: Redis keys carry it, and other test runs share Redis database 2.
    n = random.randrange(10**6, 10**9)
    return Tenant.objects.create(pk=n, slug=f"crash-{n}", name="Crash Academy")


# The paced ffmpeg's folder: one per test process (the script is the same for every test).
PACED_FOLDER = Path(tempfile.gettempdir()) / f"academy-paced-ffmpeg-{os.getpid()}"


def env(**extra) -> dict[str, object]:
    base = {
        "PATH": paced_path(PACED_FOLDER, PACE),
        "VIDEO_LEASE_SECONDS": LEASE_SECONDS,
        "VIDEO_HEARTBEAT_TTL": HEARTBEAT_TTL,
        "VIDEO_VISIBILITY_TIMEOUT": VISIBILITY_TIMEOUT,
        "VIDEO_SHUTDOWN_GRACE_SECONDS": 2,
    }
    return {**base, **extra}


# -- what happens to a machine --------------------------------------------------------------
def _process_groups(pid: int) -> set[int]:
    """The worker's process group and those of its children (ffmpeg runs in its own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    groups, stack = set(), [pid]
    while stack:
        p = stack.pop()
        try:
            groups.add(os.getpgid(p))
        except ProcessLookupError:
            continue
        stack += children.get(p, [])
    return groups


def signal_machine(proc: ProcessLog, sig: int) -> None:
    """Signal the worker and everything it started, as a host crash or a VM pause would."""
    for group in _process_groups(proc.pid):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            pass


# -- reading the outcome --------------------------------------------------------------------
def row(video) -> Video:
    return Video.objects.get(pk=video.pk)


def transcode_percent(r: redis.Redis, video) -> float:
    record = r.get(cache.progress_key(video.tenant_id, video.pk))
    if not record:
        return 0.0
    data = json.loads(record)
    return data["percent"] if data["step"] == "transcode" else 0.0


def first_claimer(workers: Iterable[ProcessLog], video, timeout: float = 60) -> ProcessLog:
    def claimed():
        for w in workers:
            if any(e.get("video_id") == video.pk for e in w.events("VIDEO_CLAIMED")):
                return w
        return None

    return wait_until(claimed, timeout, what="a worker to claim the video")


def playlist_entries(path: Path) -> list[Path]:
    """The files a playlist names: variant and audio playlists, segments and init sections."""
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith(("#EXT-X-MAP:", "#EXT-X-MEDIA:")) and 'URI="' in line:
            out.append(path.parent / line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            out.append(path.parent / line)
    return out


def assert_published_output_is_complete(storage_root: Path, video: Video, token: int) -> None:
    prefix = f"{job_output_prefix(video.media_salt, token)}/"
    assert video.hls_key == prefix + "master.m3u8"
    assert video.thumbnail_key.startswith(prefix)
    assert (storage_root / video.thumbnail_key).stat().st_size > 0
    master = storage_root / video.hls_key
    variants = playlist_entries(master)
    assert variants, "master playlist names no rendition"
    referenced = [master, *variants]
    for variant in variants:
        segments = playlist_entries(variant)
        assert segments, f"{variant} names no segment"
        referenced += segments
    missing = [p for p in referenced if not p.is_file()]
    assert missing == [], f"playlists name files that do not exist: {missing}"
    outside = [p for p in referenced if not p.resolve().is_relative_to(master.parent.resolve())]
    assert outside == [], f"published output reaches outside its own claim's prefix: {outside}"
    decoded = decodes(master)
    assert decoded.returncode == 0 and decoded.stderr.strip() == "", decoded.stderr


def completions(workers: Iterable[ProcessLog], video) -> list[str]:
    return [
        w.name
        for w in workers
        for e in w.events("SQS_JOB_COMPLETED")
        if e.get("video_id") == video.pk
    ]


def reclaim_ticks(reconcile: ProcessLog, video) -> list[dict]:
    return [e for e in reconcile.events("RECONCILE_TICK") if video.pk in e["reclaimed"]]


# -- the tests ------------------------------------------------------------------------------
@pytest.mark.parametrize("fast_ack", ["0", "1"])
def test_worker_killed_mid_encode_video_is_finished_once_by_another(
    sqs, spawn, make_video, clip, storage_root, fast_ack
):
    video = make_video(clip)
    workers = [
        spawn(f"worker-{i}", worker_args(None), **env(VIDEO_FAST_ACK=fast_ack)) for i in (1, 2)
    ]
    reconcile = spawn("reconcile", RECONCILE, **env())
    sqs.send(video.pk, video.tenant_id)
    victim = first_claimer(workers, video)
    survivor = next(w for w in workers if w is not victim)
    r = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    wait_until(lambda: transcode_percent(r, video) > 0, 60, what="the encode to be under way")
    assert row(video).status == "PROCESSING"

    signal_machine(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: row(video).lease_token == 2, 60, interval=0.05, what="a second claim")
    recovered_in = time.monotonic() - killed_at
    # The row turns READY a moment before the worker logs the job: wait for the log line.
    survivor.wait_event("SQS_JOB_COMPLETED", timeout=90, video_id=video.pk)

    video = row(video)
    assert (video.status, video.lease_token, video.attempts) == ("READY", 2, 2)
    assert victim.proc.wait(5) == -signal.SIGKILL
    # The row turns READY a moment before the worker logs it: wait for the line it checks.
    survivor.wait_event("SQS_JOB_COMPLETED", video_id=video.pk)
    assert completions(workers, video) == [survivor.name], "READY exactly once"
    [claim] = [e for e in survivor.events("VIDEO_CLAIMED") if e["video_id"] == video.pk]
    assert claim["lease_token"] == 2
    assert_published_output_is_complete(storage_root, video, token=2)
    # The dead worker's claim published nothing: its prefix does not even exist.
    assert not (storage_root / job_output_prefix(video.media_salt, 1)).exists()

    # The tick is logged after its re-send, which the survivor may answer first.
    ticks = wait_until(lambda: reclaim_ticks(reconcile, video), 10, what="the reclaiming tick")
    assert len(ticks) == 1 and ticks[0]["reenqueued"] == [video.pk], ticks
    assert ticks[0]["reclaim_reasons"][str(video.pk)] in ("heartbeat_missing", "lease_expired")
    assert recovered_in < RECOVERY_BOUND_SECONDS, f"recovery took {recovered_in:.1f} s"
    if fast_ack == "0":
        # The killed worker's message is still in flight: recovery did not wait for it.
        wait_until(lambda: sqs.counts() == (0, 1, 0), 10, what="only the dead message in flight")
    else:
        wait_until(lambda: sqs.counts() == (0, 0, 0), 10, what="an empty queue")
    assert survivor.problems() == [] and reconcile.problems() == []


def test_frozen_worker_past_its_lease_is_fenced_out_when_it_wakes(
    sqs, spawn, make_video, clip, storage_root
):
    video = make_video(clip)
    first = spawn("worker-frozen", worker_args(None), **env())
    reconcile = spawn("reconcile", RECONCILE, **env())
    sqs.send(video.pk, video.tenant_id)
    first.wait_event("VIDEO_CLAIMED", timeout=60, video_id=video.pk)
    r = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    wait_until(lambda: transcode_percent(r, video) > 0, 60, what="the encode to be under way")

    signal_machine(first, signal.SIGSTOP)
    try:
        second = spawn("worker-second", worker_args(None), **env())
        second.wait_event("SQS_JOB_COMPLETED", timeout=90, video_id=video.pk)
    finally:
        signal_machine(first, signal.SIGCONT)
    lost = first.wait_event("VIDEO_LEASE_LOST", timeout=30, video_id=video.pk)
    assert lost["lease_token"] == 1
    first.wait_event("handler.handle() returned", timeout=30, result="skip:claimed")

    video = row(video)
    assert (video.status, video.lease_token, video.leased_by) == ("READY", 2, "")
    second.wait_event("SQS_JOB_COMPLETED", video_id=video.pk)
    assert completions([first, second], video) == [second.name]
    assert_published_output_is_complete(storage_root, video, token=2)
    assert not (storage_root / job_output_prefix(video.media_salt, 1)).exists()
    assert len(wait_until(lambda: reclaim_ticks(reconcile, video), 10, what="the tick")) == 1
    assert second.problems() == [] and first.problems() == []


def test_long_job_with_a_short_lease_is_never_reclaimed_while_its_worker_lives(
    sqs, spawn, make_video, long_clip, storage_root
):
    lease = 2  # well under the encode: the worker renews it every TTL/3 = 1 s
    video = make_video(long_clip)
    worker = spawn("worker", worker_args(None), **env(VIDEO_LEASE_SECONDS=lease))
    reconcile = spawn("reconcile", RECONCILE, **env(VIDEO_LEASE_SECONDS=lease))
    sqs.send(video.pk, video.tenant_id)
    worker.wait_event("VIDEO_CLAIMED", timeout=60, video_id=video.pk)
    done = worker.wait_event("SQS_JOB_COMPLETED", timeout=120, video_id=video.pk)

    video = row(video)
    assert (video.status, video.lease_token, video.attempts) == ("READY", 1, 1)
    assert done["transcode_ms"] > 2 * lease * 1000, "the encode must outlast the lease"
    assert len(worker.events("VIDEO_CLAIMED")) == 1 and not worker.events("VIDEO_LEASE_LOST")
    ticks = reconcile.events("RECONCILE_TICK")
    assert not [t for t in ticks if t["reclaimed"] or t["reenqueued"] or t["errors"]]
    looked = [t for t in ticks if t["skipped_reasons"].get("heartbeat_alive")]
    assert len(looked) >= 2, "reconcile must have seen the job running, and left it alone"
    assert_published_output_is_complete(storage_root, video, token=1)
    assert worker.problems() == [] and reconcile.problems() == []


def test_worker_killed_alone_takes_its_ffmpeg_along_and_the_next_removes_its_folder(
    sqs, spawn, make_video, clip, storage_root
):
    from src.application.job_folders import create_job_folder
    from tests.media import is_running, processes_in

    work = storage_root.parent / "work"  # VIDEO_WORK_DIR in the e2e environment
    video = make_video(clip)
    victim = spawn("worker-victim", worker_args(None), **env())
    sqs.send(video.pk, video.tenant_id)
    victim.wait_event("VIDEO_CLAIMED", timeout=60, video_id=video.pk)

    def encoding():
        for folder in work.glob("video-*"):
            pids = processes_in(folder)  # ffmpeg runs with the job folder as its cwd
            if pids:
                return folder, pids
        return None

    folder, pids = wait_until(encoding, 60, what="ffmpeg at work in the job folder")
    other_workers_job = create_job_folder(work, "999999-1-")  # held by a live process: us
    # SIGKILL to the worker alone: none of its cleanup runs. Before: ffmpeg, in its own
    # session, went on encoding for nobody, and the job folder stayed for good.
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: not any(map(is_running, pids)), 10, what="ffmpeg to die with its worker")
    assert folder.is_dir()

    successor = spawn("worker-next", worker_args(None, "--exit-when-idle", "1"), **env())
    removed = successor.wait_event("WORKER_ORPHAN_FOLDERS_REMOVED", timeout=60)
    assert removed["folders"] == [folder.name]
    assert not folder.exists() and other_workers_job.path.is_dir()
    assert successor.wait(60) == 0
    other_workers_job.remove()
