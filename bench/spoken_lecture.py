"""Spoken lectures for the caption job: espeak-ng reads a known script into a clip's audio,
and the word error rate of a transcript against that script (jiwer).

Shared by the e2e tests, `bench/captions.py` and the demo; media is always made here, never
downloaded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import jiwer

SCRIPTS = {
    "linear-algebra": (
        "Welcome to the first lecture on linear algebra. Today we will talk about vectors and "
        "matrices. A vector is a list of numbers. We can add two vectors and we can multiply a "
        "vector by a number. A matrix is a table of numbers with rows and columns."
    ),
    "photosynthesis": (
        "Good morning everyone. In this lesson we look at how plants make their food. Leaves "
        "take in light from the sun, water from the soil and carbon dioxide from the air. "
        "They turn these into sugar and release oxygen. This process is called photosynthesis."
    ),
}
# espeak-ng voice and words per minute: slow enough for a tiny model to hear every word.
VOICES = {"en-us": ["-v", "en-us", "-s", "135"], "en-gb": ["-v", "en-gb", "-s", "135"]}
DEFAULT_VOICE = "en-us"

_WORDS = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER on words alone (case and punctuation ignored)."""
    return float(
        jiwer.wer(reference, hypothesis, reference_transform=_WORDS, hypothesis_transform=_WORDS)
    )


def speak(text: str, wav: Path, voice: str = DEFAULT_VOICE) -> Path:
    subprocess.run(
        ["espeak-ng", *VOICES[voice], "-w", str(wav), text],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return wav


def spoken_lecture(
    out: Path,
    text: str,
    *,
    voice: str = DEFAULT_VOICE,
    repeat: int = 1,
    size: str = "320x240",
    source: str = "color=c=navy",
) -> Path:
    """An MP4 lecture (a still colour frame, H.264 + AAC) whose audio is `text` read `repeat`
    times in a row."""
    wav = speak(text, out.with_suffix(".speech.wav"), voice)
    picture = f"{source}{':' if '=' in source else '='}size={size}:rate=15"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", picture]
    cmd += ["-stream_loop", str(repeat - 1), "-i", str(wav), "-shortest"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    subprocess.run([*cmd, str(out)], check=True, capture_output=True, timeout=600)
    wav.unlink(missing_ok=True)
    return out
