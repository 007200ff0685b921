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

Sources (`bench/sources.py`, generated with lavfi and Debian's DejaVu fonts, cached in
`--cache`): `lecture`, `lecture-lowrate`, `motion`, `screencast`, `talking-head`.

Printed per source and variant (medians of the runs): CPU seconds (user + system of the
ffmpeg children: on a shared machine far steadier than wall time), wall seconds, bytes per
rung and in total (HLS segments and playlists; our shared audio is its own column), SSIM
and PSNR per rung against the source scaled to that rung, for the screencast the SSIM of
the code pane alone (`TEXT_REGION`: is the text still legible?), the ratios against
PeerTube and whether the goals hold: no rung's SSIM more than 0.002 below PeerTube's, bytes
at most 0.9x PeerTube's (0.8x on the lecture), CPU at most 0.5x.

    .venv/bin/python -m bench.ladder_vs_peers [--seconds 60] [--runs 3] [--sources lecture,...]
        [--variants ours,PeerTube,MediaCMS] [--cache var/bench-sources] [--budget SECONDS]
        [--skip-quality]
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
from bench.sources import FPS, KINDS, TEXT_REGION, Region, make_source
from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder

_QUIET = ("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y")
RUNGS = ("1080p", "720p", "480p", "360p")
# The goals (issue: screen recordings stay sharp), against PeerTube side by side.
MAX_SSIM_LOSS = 0.002
MAX_BYTES_RATIO = 0.9
MAX_BYTES_RATIO_BY_SOURCE = {"lecture": 0.8}
MAX_CPU_RATIO = 0.5
# PeerTube: target bitrate per resolution at 30 fps, used as maxrate and bufsize.
PEERTUBE = {1080: 5000, 720: 2800, 480: 1400, 360: 800}
# MediaCMS: profile bitrate; maxrate and bufsize are 1.5x.
MEDIACMS = {720: 2500, 480: 1000, 360: 500}


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


@dataclass(frozen=True)
class Quality:
    ssim: float
    psnr: float
    text_ssim: float | None = None


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    quality: dict[str, Quality] = field(default_factory=dict)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def quality(rendition: Path, source: Path, text: Region | None = None) -> Quality:
    """SSIM (All) and PSNR (average) of a rendition's video against the source scaled to the
    rendition's size, and with `text` the SSIM of that region alone."""
    probe = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-select_streams", "v:0"),
            *("-show_entries", "stream=width,height", "-of", "csv=p=0", str(rendition)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    width, height = (int(v) for v in probe.stdout.split()[0].split(","))
    copies = 3 if text else 2
    graph = (
        f"[0:v]setsar=1,setpts=PTS-STARTPTS,split={copies}[a0][a1][a2];"
        f"[1:v]scale={width}:{height},setsar=1,setpts=PTS-STARTPTS,split={copies}[b0][b1][b2];"
        "[a0][b0]ssim;[a1][b1]psnr"
    )
    if text:
        crop = text.crop(width, height)
        graph += f";[a2]crop={crop}[ta];[b2]crop={crop}[tb];[ta][tb]ssim"
    else:
        graph = graph.replace("[a2]", "").replace("[b2]", "")
    done = subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-nostdin", "-protocol_whitelist", "file,hls"),
            *("-i", str(rendition), "-i", str(source), "-lavfi", graph, "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ssims = [float(v) for v in re.findall(r"All:([0-9.]+)", done.stderr)]
    psnr = re.findall(r"average:([0-9.]+|inf)", done.stderr)[-1]
    return Quality(ssims[0], float(psnr), ssims[1] if text else None)


def measure(
    name: str, source: Path, root: Path, with_quality: bool, text: Region | None = None
) -> tuple[Sample, dict[str, Quality]]:
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
    scores = (
        {rung: quality(playlist, source, text) for rung, playlist in rungs.items()}
        if with_quality
        else {}
    )
    shutil.rmtree(out)
    return Sample(cpu, wall, rung_bytes, audio, total), scores


def _mb(value: float) -> str:
    return f"{value / 1e6:.2f}"


def _med(result: Result, pick: Callable[[Sample], float]) -> float:
    return statistics.median(pick(s) for s in result.samples)


def report(source_name: str, source: Path, results: dict[str, Result]) -> None:
    """The source's table (medians) and, for ours, whether every goal holds."""
    print(f"\n### {source_name} ({_mb(source.stat().st_size)} MB source)\n")
    text = any(q.text_ssim is not None for r in results.values() for q in r.quality.values())
    print(
        "| variant | runs | CPU s | wall s | "
        + " | ".join(f"{r} MB" for r in RUNGS)
        + " | audio MB | total MB | SSIM "
        + " / ".join(RUNGS)
        + " | PSNR dB "
        + " / ".join(RUNGS)
        + (" | text SSIM " + " / ".join(RUNGS) if text else "")
        + " | bytes / PT | CPU / PT | wall / PT | SSIM - PT (worst rung) |"
    )
    print("|---" * (17 if text else 16) + "|")
    base = results["PeerTube"]
    for name, result in results.items():
        if not result.samples:
            continue
        cpu, wall = _med(result, lambda s: s.cpu), _med(result, lambda s: s.wall)
        total = _med(result, lambda s: s.total_bytes)
        per_rung = [
            _mb(_med(result, lambda s, r=r: s.rung_bytes[r]))
            if all(r in s.rung_bytes for s in result.samples)
            else "-"
            for r in RUNGS
        ]
        audio = _med(result, lambda s: s.audio_bytes)
        q = result.quality

        def column(pick: Callable[[Quality], float | None], fmt: str, q=q) -> str:
            return " / ".join(
                fmt.format(pick(q[r])) if r in q and pick(q[r]) is not None else "-" for r in RUNGS
            )

        shared = [r for r in RUNGS if r in q and r in base.quality]
        worst = min(
            ((q[r].ssim - base.quality[r].ssim, r) for r in shared), default=(float("nan"), "-")
        )
        ratios = (
            total / _med(base, lambda s: s.total_bytes),
            cpu / _med(base, lambda s: s.cpu),
            wall / _med(base, lambda s: s.wall),
        )
        print(
            f"| {name} | {len(result.samples)} | {cpu:.1f} | {wall:.1f} | "
            + " | ".join(per_rung)
            + f" | {_mb(audio) if audio else '-'} | {_mb(total)} "
            + f"| {column(lambda x: x.ssim, '{:.4f}')} | {column(lambda x: x.psnr, '{:.1f}')} "
            + (f"| {column(lambda x: x.text_ssim, '{:.4f}')} " if text else "")
            + f"| {ratios[0]:.2f} | {ratios[1]:.2f} | {ratios[2]:.2f} "
            f"| {worst[0]:+.4f} ({worst[1]}) |"
        )
        if name == "ours":
            max_bytes = MAX_BYTES_RATIO_BY_SOURCE.get(source_name, MAX_BYTES_RATIO)
            verdict = {
                f"SSIM >= PT - {MAX_SSIM_LOSS}": worst[0] >= -MAX_SSIM_LOSS,
                f"bytes <= {max_bytes}x": ratios[0] <= max_bytes,
                f"CPU <= {MAX_CPU_RATIO}x": ratios[1] <= MAX_CPU_RATIO,
            }
            goals = ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in verdict.items())
            print(f"\ngoals for ours on {source_name}: {goals}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="source duration")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant (alternated)")
    parser.add_argument("--sources", default=",".join(KINDS), help="comma-separated names")
    parser.add_argument(
        "--variants", default="ours,PeerTube,MediaCMS", help=f"some of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--cache", type=Path, help="keep generated sources in this folder")
    parser.add_argument(
        "--budget",
        type=float,
        default=0,
        help="stop starting runs after this many seconds (0: none); the tables say how many ran",
    )
    parser.add_argument(
        "--skip-quality",
        action="store_true",
        help="CPU and bytes only (the encodes are deterministic: SSIM from an earlier run holds)",
    )
    args = parser.parse_args()
    sources = [s for s in args.sources.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    if unknown := (set(sources) - set(KINDS)) | (set(variants) - set(VARIANTS)):
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
            files[name] = cache / f"{name}-{args.seconds}s.mp4"
            if not files[name].is_file():
                make_source(name, files[name], args.seconds)
        results = {s: {v: Result() for v in variants} for s in sources}
        started = time.monotonic()
        for run in range(args.runs):
            if args.budget and run and time.monotonic() - started > args.budget:
                print(f"budget of {args.budget:g} s spent: {run} runs of each", flush=True)
                break
            # Rotate the order each run so load from elsewhere falls on every variant.
            order = variants[run % len(variants) :] + variants[: run % len(variants)]
            for name in sources:
                text = TEXT_REGION if name == "screencast" else None
                for variant in order:
                    quality_run = run == 0 and not args.skip_quality
                    sample, scores = measure(variant, files[name], root, quality_run, text)
                    results[name][variant].samples.append(sample)
                    results[name][variant].quality.update(scores)
                    print(
                        f"run {run + 1} {name} {variant}: cpu {sample.cpu:.1f} s, "
                        f"wall {sample.wall:.1f} s, {_mb(sample.total_bytes)} MB "
                        + " ".join(f"{r}={_mb(b)}" for r, b in sample.rung_bytes.items())
                        + "".join(
                            f" {r} ssim {v.ssim:.4f} psnr {v.psnr:.1f}"
                            + (f" text {v.text_ssim:.4f}" if v.text_ssim is not None else "")
                            for r, v in scores.items()
                        ),
                        flush=True,
                    )
        print(f"\nload average after: {os.getloadavg()}")
        for name in sources:
            report(name, files[name], results[name])


if __name__ == "__main__":
    main()
