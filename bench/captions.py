"""Automatic captions on this machine: accuracy, speed, memory and delay.

1. Word error rate of the default model (tiny.en, int8 on CPU) on two lecture scripts read by
   two espeak-ng voices (the transcriber alone, on 16 kHz audio as the job decodes it).
2. The real pipeline (a video worker and a caption worker, `sqs_main --jobs captions`, over
   moto's SQS, PostgreSQL database `bench_captions`, Redis database 3, local storage) on a 60 s
   and a 10 min spoken lecture (the script read again and again): transcription speed as a
   multiple of real time (the job's own `CAPTIONS_TRANSCRIBED` line), the caption worker's peak
   RSS (VmHWM) after each job, and how long after the video turned READY its track did.

    .venv/bin/python -m bench.captions [--skip-pipeline] [--long-minutes 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import ProcessLog, wait_until
from bench.machine import describe_machine
from bench.spoken_lecture import SCRIPTS, VOICES, speak, spoken_lecture, word_error_rate
from bench.support import bench_env, enqueue, make_videos

WORKER = [sys.executable, "-m", "apps.worker.video_worker.sqs_main"]
# The goal the issue sets for the default model on two vCPUs.
SPEED_GOAL = 10.0


def _audio16k(wav: Path) -> Path:
    out = wav.with_suffix(".16k.wav")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ac", "1", "-ar", "16000", str(out)],
        check=True,
    )
    return out


def accuracy(folder: Path) -> list[dict]:
    from src.infrastructure.captions.whisper_transcriber import FasterWhisperTranscriber

    transcriber = FasterWhisperTranscriber()
    transcriber._loaded()  # the model load is not part of any transcription's time
    rows = []
    for name, script in SCRIPTS.items():
        for voice in VOICES:
            audio = _audio16k(speak(script, folder / f"{name}-{voice}.wav", voice))
            started = time.monotonic()
            result = transcriber.transcribe(audio, None, lambda _p, _s: None, lambda: None)
            seconds = time.monotonic() - started
            heard = " ".join(c.text for c in result.cues)
            rows.append(
                {
                    "script": name,
                    "voice": voice,
                    "audio_s": round(result.audio_seconds, 1),
                    "wer": round(word_error_rate(script, heard), 3),
                    "x_realtime": round(result.audio_seconds / seconds, 1),
                }
            )
    return rows


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pipeline(folder: Path, long_minutes: float) -> list[dict]:
    script = SCRIPTS["linear-algebra"]
    once = spoken_lecture(folder / "once.mp4", script)
    one = float(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                str(once),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    lectures = {
        "60 s": spoken_lecture(folder / "60s.mp4", script, repeat=max(1, round(60 / one))),
        f"{long_minutes:g} min": spoken_lecture(
            folder / "long.mp4", script, repeat=max(1, round(long_minutes * 60 / one))
        ),
    }
    rows = []
    with bench_env("captions") as env:
        from apps.support.captions.models import CaptionTrack  # Django is set up now
        from apps.support.video.models import Video

        captions_url = env.sqs().create_queue(QueueName="bench-captions")["QueueUrl"]
        extra = {"VIDEO_CAPTIONS_QUEUE_URL": captions_url}
        logs = folder / "logs"
        logs.mkdir()
        video_worker = ProcessLog("worker", WORKER, env.env(**extra), logs)
        caption_worker = ProcessLog(
            "captions", [*WORKER, "--jobs", "captions"], env.env(**extra), logs
        )
        try:
            for name, path in lectures.items():
                (video,) = make_videos(env, 1, path)
                enqueue(env, [video])
                track = wait_until(
                    lambda v=video: CaptionTrack.objects.filter(
                        video_id=v.pk, kind="auto", status__in=("READY", "FAILED", "SKIPPED")
                    ).first(),
                    1800,
                    1.0,
                    what=f"the {name} lecture's track",
                )
                row = Video.objects.get(pk=video.pk)
                line = caption_worker.wait_event("CAPTIONS_TRANSCRIBED", 60, video_id=video.pk)
                rows.append(
                    {
                        "lecture": name,
                        "video_s": round(row.duration_seconds or 0, 1),
                        "encode_s": round(
                            (
                                row.processing_completed_at - row.processing_started_at
                            ).total_seconds(),
                            1,
                        ),
                        "status": track.status,
                        "transcribe_s": round(line["transcribe_ms"] / 1000, 1),
                        "x_realtime": line["realtime_factor"],
                        "ready_delay_s": round(
                            (track.ready_at - row.processing_completed_at).total_seconds(), 1
                        ),
                        "wer": round(
                            word_error_rate(
                                " ".join([script] * round(line["audio_seconds"] / one)),
                                " ".join(c["text"] for c in track.cues),
                            ),
                            3,
                        ),
                        "worker_peak_rss_mb": round(_vm_hwm_mb(caption_worker.pid), 1),
                    }
                )
        finally:
            video_worker.kill()
            caption_worker.kill()
    return rows


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(describe_machine())
    with tempfile.TemporaryDirectory(prefix="bench-captions-") as tmp:
        folder = Path(tmp)
        rows = accuracy(folder)
        print("\nAccuracy (tiny.en, int8, greedy, VAD filter):")
        print(_table(rows))
        result = {"accuracy": rows}
        if not args.skip_pipeline:
            pipe = pipeline(folder, args.long_minutes)
            print("\nPipeline (video worker + caption worker, real processes):")
            print(_table(pipe))
            for row in pipe:
                goal = "meets" if row["x_realtime"] >= SPEED_GOAL else "misses"
                print(
                    f"{row['lecture']}: {row['x_realtime']}x real time ({goal} the {SPEED_GOAL:g}x goal)"
                )
            result["pipeline"] = pipe
        print("\n" + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
