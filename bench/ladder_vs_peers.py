"""Our worker's HLS ladder against PeerTube's and MediaCMS's default encodes, side by side.

On the same generated 1080p sources, in one invocation, runs alternate and repeat:

- ours: the real `FfmpegTranscoder` with the configured ladder (probe, passthrough decision,
  one ffmpeg pass, shared audio, master playlist), exactly what a worker runs;
- ours-encode (on request): the same with passthrough off, to see what it saves;
- PeerTube: one ffmpeg per resolution, libx264 veryfast at x264's default CRF 23 capped at
  PeerTube's per-resolution bitrate (maxrate = bufsize), `-bf 16`, GOP 2 s, AAC 128k per
  resolution, fMP4 HLS in a single file per resolution;
- MediaCMS: one ffmpeg per profile (720p/480p/360p), libx264 medium, Main profile, CRF 23
  capped at 1.5x the profile's bitrate, keyframes every 4 s, AAC 128k, one MP4 per profile,
  then HLS by `-c copy` per MP4.

Sources (generated with lavfi, cached in `--cache`): `lecture` (slides changing every 10 s,
a moving Mandelbrot speaker inset, a tone; x264 CRF 20, about 2.9 Mb/s over 60 s),
`lecture-lowrate` (the same recipe at CRF 28, eligible for top-rung passthrough) and
`motion` (full-frame testsrc2 at 30 fps, the worst case for every encoder).

Printed per source and variant: CPU seconds (user + system of the children), wall seconds,
bytes per rung and in total (HLS segments and playlists; our shared audio is its own
column), SSIM per rung against the source scaled to that rung, and ratios against PeerTube.

    .venv/bin/python -m bench.ladder_vs_peers [--seconds 60] [--runs 3] [--sources lecture,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.machine import describe_machine
from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder

FPS = 30
_QUIET = ("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y")

# (name, x264 CRF of the source, full-frame motion?)
SOURCES: dict[str, tuple[int, bool]] = {
    "lecture": (20, False),
    "lecture-lowrate": (28, False),
    "motion": (20, True),
}
# PeerTube: target bitrate per resolution at 30 fps, used as maxrate and bufsize.
PEERTUBE = {1080: 5000, 720: 2800, 480: 1400, 360: 800}
# MediaCMS: profile bitrate; maxrate and bufsize are 1.5x.
MEDIACMS = {720: 2500, 480: 1000, 360: 500}


def make_source(path: Path, seconds: int, crf: int, motion: bool) -> None:
    """The lecture-like recipe (slides + Mandelbrot inset + tone) or full-frame testsrc2."""
    if motion:
        video = ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}"]
        graph = ["-map", "0:v", "-map", "1:a"]
    else:
        video = [
            *("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=1/10"),
            *("-f", "lavfi", "-i", f"mandelbrot=size=384x216:rate={FPS}"),
        ]
        graph = [
            "-filter_complex",
            f"[0:v]fps={FPS},format=yuv420p[s];[s][1:v]overlay=W-w-40:H-h-40[v]",
            *("-map", "[v]", "-map", "2:a"),
        ]
    subprocess.run(
        [
            *_QUIET,
            *video,
            *("-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000"),
            *graph,
            *("-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf)),
            *("-maxrate", "6M", "-bufsize", "12M", "-g", "60", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "128k", str(path)),
        ],
        check=True,
    )


def _heights(source_height: int, ladder: dict[int, int]) -> list[int]:
    return [h for h in sorted(ladder, reverse=True) if h <= source_height]


def ours(source: Path, out: Path, passthrough: bool = True) -> dict[str, Path]:
    """The worker's transcoder, configured as a worker would be (environment included)."""
    from academy.config import DEVELOPMENT_ENV, load_config

    job = out / "job"
    job.mkdir()
    os.link(source, job / "source.mp4")
    cfg = load_config({**DEVELOPMENT_ENV, **os.environ})
    ladder = cfg.video_ladder
    if not passthrough:
        ladder = tuple(dataclasses.replace(rung, passthrough_kbps=0) for rung in ladder)
    output = FfmpegTranscoder.from_config(cfg, ladder=ladder).transcode(
        job / "source.mp4", job, lambda *_: None, lambda: None
    )
    (job / "source.mp4").unlink()
    (output.output_dir / output.thumbnail).unlink()
    return {r["name"]: output.output_dir / r["playlist"] for r in output.renditions}


def peertube(source: Path, out: Path) -> dict[str, Path]:
    rungs = {}
    for height in _heights(1080, PEERTUBE):
        rate = f"{PEERTUBE[height]}k"
        folder = out / f"{height}p"
        folder.mkdir()
        subprocess.run(
            [
                *_QUIET,
                *("-i", str(source), "-vf", f"scale=-2:{height}", "-c:v", "libx264"),
                *("-preset", "veryfast", "-maxrate:v", rate, "-bufsize:v", rate),
                *("-b_strategy", "1", "-bf", "16", "-r", str(FPS), "-g:v", str(2 * FPS)),
                *("-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-map_metadata", "-1"),
                *("-hls_time", "4", "-hls_list_size", "0", "-hls_playlist_type", "vod"),
                *("-hls_segment_type", "fmp4", "-hls_flags", "single_file", "-f", "hls"),
                str(folder / "index.m3u8"),
            ],
            check=True,
        )
        rungs[f"{height}p"] = folder / "index.m3u8"
    return rungs


def mediacms(source: Path, out: Path) -> dict[str, Path]:
    rungs = {}
    for height in _heights(1080, MEDIACMS):
        cap = f"{MEDIACMS[height] * 3 // 2}k"
        folder = out / f"{height}p"
        folder.mkdir()
        mp4 = out / f"{height}p.mp4"
        subprocess.run(
            [
                *_QUIET,
                *("-i", str(source), "-vf", f"scale=-2:{height}:flags=lanczos,fps=fps={FPS}"),
                *("-c:v", "libx264", "-preset", "medium", "-profile:v", "main"),
                *("-level", "4.2", "-crf", "23", "-maxrate", cap, "-bufsize", cap),
                *("-force_key_frames", "expr:gte(t,n_forced*4)"),
                *("-x264-params", "keyint=240:keyint_min=120", "-pix_fmt", "yuv420p"),
                *("-c:a", "aac", "-b:a", "128k", "-ac", "2", str(mp4)),
            ],
            check=True,
        )
        subprocess.run(
            [
                *(*_QUIET, "-i", str(mp4), "-c", "copy", "-f", "hls", "-hls_time", "4"),
                *("-hls_list_size", "0", "-hls_playlist_type", "vod"),
                *("-hls_segment_filename", str(folder / "seg_%05d.ts")),
                str(folder / "index.m3u8"),
            ],
            check=True,
        )
        mp4.unlink()  # what is served is the HLS copy
        rungs[f"{height}p"] = folder / "index.m3u8"
    return rungs


def ours_encoding(source: Path, out: Path) -> dict[str, Path]:
    """Ours with passthrough off: what the top rung would cost re-encoded (the evidence for
    the passthrough thresholds)."""
    return ours(source, out, passthrough=False)


VARIANTS: dict[str, Callable[[Path, Path], dict[str, Path]]] = {
    "ours": ours,
    "ours-encode": ours_encoding,
    "PeerTube": peertube,
    "MediaCMS": mediacms,
}


@dataclass
class Sample:
    cpu: float
    wall: float
    rung_bytes: dict[str, int]
    audio_bytes: int
    total_bytes: int


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    ssim: dict[str, float] = field(default_factory=dict)
    note: str = ""


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def ssim(rendition: Path, source: Path) -> float:
    """SSIM (All) of a rendition's video against the source scaled to the rendition's size."""
    probe = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-select_streams", "v:0"),
            *("-show_entries", "stream=width,height", "-of", "csv=p=0", str(rendition)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    width, height = probe.stdout.split()[0].split(",")
    graph = (
        "[0:v]setsar=1,setpts=PTS-STARTPTS[a];"
        f"[1:v]scale={width}:{height},setsar=1,setpts=PTS-STARTPTS[b];[a][b]ssim"
    )
    done = subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-nostdin", "-protocol_whitelist", "file,hls"),
            *("-i", str(rendition), "-i", str(source), "-lavfi", graph, "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(re.findall(r"All:([0-9.]+)", done.stderr)[-1])


def measure(
    name: str, source: Path, root: Path, with_ssim: bool
) -> tuple[Sample, dict[str, float]]:
    out = root / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    rungs = VARIANTS[name](source, out)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rung_bytes = {rung: _folder_bytes(playlist.parent) for rung, playlist in rungs.items()}
    total = _folder_bytes(out)
    audio = _folder_bytes(out / "job" / "out" / "audio") if name.startswith("ours") else 0
    scores = {rung: ssim(playlist, source) for rung, playlist in rungs.items()} if with_ssim else {}
    shutil.rmtree(out)
    return Sample(cpu, wall, rung_bytes, audio, total), scores


def _mb(value: float) -> str:
    return f"{value / 1e6:.2f}"


def report(source_name: str, source: Path, results: dict[str, Result]) -> None:
    size = source.stat().st_size
    print(f"\n### {source_name} ({_mb(size)} MB source)\n")
    rungs = ["1080p", "720p", "480p", "360p"]
    print(
        "| variant | runs | CPU s | wall s | "
        + " | ".join(f"{r} MB" for r in rungs)
        + " | audio MB | total MB | SSIM "
        + " / ".join(rungs)
        + " | bytes / PT | CPU / PT | wall / PT | SSIM - PT (worst rung) |"
    )
    print("|---" * 15 + "|")
    base = results["PeerTube"]

    def med(result: Result, pick: Callable[[Sample], float]) -> float:
        return statistics.median(pick(s) for s in result.samples)

    for name, result in results.items():
        cpu, wall = med(result, lambda s: s.cpu), med(result, lambda s: s.wall)
        total = med(result, lambda s: s.total_bytes)
        per_rung = [
            _mb(med(result, lambda s, r=r: s.rung_bytes[r]))
            if r in result.samples[0].rung_bytes
            else "-"
            for r in rungs
        ]
        audio = med(result, lambda s: s.audio_bytes)
        scores = " / ".join(f"{result.ssim[r]:.4f}" if r in result.ssim else "-" for r in rungs)
        shared = [r for r in rungs if r in result.ssim and r in base.ssim]
        worst = min((result.ssim[r] - base.ssim[r] for r in shared), default=float("nan"))
        print(
            f"| {name} | {len(result.samples)} | {cpu:.1f} | {wall:.1f} | "
            + " | ".join(per_rung)
            + f" | {_mb(audio) if audio else '-'} | {_mb(total)} | {scores} "
            f"| {total / med(base, lambda s: s.total_bytes):.2f} "
            f"| {cpu / med(base, lambda s: s.cpu):.2f} | {wall / med(base, lambda s: s.wall):.2f} "
            f"| {worst:+.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="source duration")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant (alternated)")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated names")
    parser.add_argument(
        "--variants", default="ours,PeerTube,MediaCMS", help=f"some of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--cache", type=Path, help="keep generated sources in this folder")
    args = parser.parse_args()
    sources = [s for s in args.sources.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    if unknown := (set(sources) - set(SOURCES)) | (set(variants) - set(VARIANTS)):
        parser.error(f"unknown source or variant: {', '.join(sorted(unknown))}")
    if "PeerTube" not in variants:
        parser.error("PeerTube is the baseline of every ratio; keep it in --variants")

    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True)
    print(describe_machine())
    print(f"ffmpeg: {version.stdout.splitlines()[0]}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        root = Path(tmp)
        cache = args.cache or root
        cache.mkdir(parents=True, exist_ok=True)
        files = {}
        for name in sources:
            crf, motion = SOURCES[name]
            files[name] = cache / f"{name}-{args.seconds}s.mp4"
            if not files[name].is_file():
                make_source(files[name], args.seconds, crf, motion)
        results = {s: {v: Result() for v in variants} for s in sources}
        for run in range(args.runs):
            # Rotate the order each run so load from elsewhere falls on every variant.
            order = variants[run % len(variants) :] + variants[: run % len(variants)]
            for name in sources:
                for variant in order:
                    sample, scores = measure(variant, files[name], root, with_ssim=run == 0)
                    results[name][variant].samples.append(sample)
                    results[name][variant].ssim.update(scores)
                    print(
                        f"run {run + 1} {name} {variant}: cpu {sample.cpu:.1f} s, "
                        f"wall {sample.wall:.1f} s, {_mb(sample.total_bytes)} MB "
                        + " ".join(f"{r}={_mb(b)}" for r, b in sample.rung_bytes.items())
                        + "".join(f" ssim {r}={v:.4f}" for r, v in scores.items()),
                        flush=True,
                    )
        print(f"\nload average after: {os.getloadavg()}")
        for name in sources:
            report(name, files[name], results[name])


if __name__ == "__main__":
    main()
