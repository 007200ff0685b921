"""The real transcriber (tiny.en) on espeak-ng speech cut into deliberately tiny windows: every
cut falls in a pause and the script still reads back within the word error rate goal, with the
cues in time order across the boundaries."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from bench.spoken_lecture import SCRIPTS, speak, word_error_rate
from src.infrastructure.captions.whisper_transcriber import (
    SAMPLE_RATE,
    FasterWhisperTranscriber,
    audio_windows,
)

np = pytest.importorskip("numpy")
pytestmark = pytest.mark.slow

SCRIPT = SCRIPTS["linear-algebra"]  # about 19 s read by espeak-ng
MAX_WER = 0.2  # the goal for the default model on a clear speaker


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spoken")
    wav = speak(SCRIPT, folder / "speech.wav")
    audio = folder / "speech16k.wav"  # as the job decodes it: 16 kHz mono 16-bit
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ac", "1", "-ar", "16000", str(audio)],
        check=True,
        timeout=60,
    )
    return audio


def test_speech_longer_than_a_tiny_window_reads_back_whole(spoken):
    transcriber = FasterWhisperTranscriber(window_seconds=10, cut_search_seconds=4)
    with wave.open(str(spoken), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        wav.rewind()
        cuts = [offset for offset, _ in audio_windows(wav, transcriber.window, transcriber.search)]
    assert len(cuts) >= 2  # the speech crosses at least one boundary
    for cut in cuts[1:]:  # each cut in a pause of espeak's: 20 ms either side are silent
        assert np.abs(samples[cut - 320 : cut + 320].astype(np.int32)).max() < 300

    result = transcriber.transcribe(spoken, None, lambda _p, _s: None, lambda: None)
    heard = " ".join(cue.text for cue in result.cues)
    assert word_error_rate(SCRIPT, heard) <= MAX_WER, heard
    assert all(a.end <= b.start for a, b in zip(result.cues, result.cues[1:], strict=False))
    boundary = cuts[1] / SAMPLE_RATE
    assert any(cue.end <= boundary for cue in result.cues)
    assert any(cue.start >= boundary for cue in result.cues)
    assert result.cues[-1].end > result.audio_seconds - 4  # the last words are there
