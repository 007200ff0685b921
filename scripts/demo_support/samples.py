"""Sample lectures made on the spot with ffmpeg's lavfi sources (nothing is downloaded)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.spoken_lecture import SCRIPTS, spoken_lecture

# The samples are throwaway inputs: encode them as fast as x264 can.
X264_PRESET = "ultrafast"
# Shortest sample the scale may produce: HLS needs at least one whole segment of something.
MIN_SECONDS = 1.0
GENERATE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Sample:
    file_name: str
    title: str
    source: str  # a lavfi video source
    width: int
    height: int
    seconds: float
    tone_hz: int | None  # None: no audio stream at all
    # A lecture script espeak-ng reads as the audio (the clip lasts as long as the speech).
    speech: str | None = None

    def describe(self) -> str:
        if self.speech:
            return f"{self.width}x{self.height}, spoken lecture (espeak-ng)"
        audio = "with audio" if self.tone_hz else "no audio"
        return f"{self.width}x{self.height}, {self.seconds:g} s, {audio}"


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "welcome.mp4",
        "Welcome to the Academy",
        "smptehdbars",  # a still picture: the spoken lecture is long, its encode stays quick
        1280,
        720,
        8,
        None,
        SCRIPTS["linear-algebra"],
    ),
    Sample("algebra-101.mp4", "Algebra 101: Equations", "smptebars", 854, 480, 6, 660),
    Sample("lab-walkthrough.mp4", "Lab Walkthrough (silent)", "testsrc", 640, 360, 5, None),
)


def scaled(samples: tuple[Sample, ...], scale: float) -> list[Sample]:
    return [
        Sample(
            s.file_name,
            s.title,
            s.source,
            s.width,
            s.height,
            round(max(MIN_SECONDS, s.seconds * scale), 2),
            s.tone_hz,
            s.speech,
        )
        for s in samples
    ]


def generate(sample: Sample, folder: Path) -> Path:
    """Write `sample` as an mp4 in `folder`; raises RuntimeError with ffmpeg's stderr."""
    path = folder / sample.file_name
    if sample.speech:
        return spoken_lecture(
            path, sample.speech, size=f"{sample.width}x{sample.height}", source=sample.source
        )
    size, secs = f"{sample.width}x{sample.height}", sample.seconds
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", f"{sample.source}=size={size}:rate=25:duration={secs}"]
    if sample.tone_hz:
        tone = f"sine=frequency={sample.tone_hz}:sample_rate=48000:duration={secs}"
        cmd += ["-f", "lavfi", "-i", tone, "-c:a", "aac", "-ac", "2", "-b:a", "96k"]
    cmd += ["-c:v", "libx264", "-preset", X264_PRESET, "-pix_fmt", "yuv420p"]
    cmd += ["-movflags", "+faststart", "-shortest", str(path)]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=GENERATE_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg could not make {path.name}: {done.stderr.strip()[-2000:]}")
    return path
