"""The transcriber's windows: the WAV is read a window at a time, each cut at a pause, and the
cue times shifted back onto the whole lecture; no word is lost or split at a boundary.

Whisper is replaced by a stand-in that "hears" each tone burst of the audio as a word (its
pitch names the word), so the windowing is checked exactly and fast. The real model on espeak
speech in tiny windows is tests/integration/test_whisper_windows.py.
"""

from __future__ import annotations

import wave
from pathlib import Path
from types import SimpleNamespace

import pytest

from src.application.domain import ErrorCode, JobStopped, StopReason, VideoProcessingError
from src.infrastructure.captions.whisper_transcriber import (
    SAMPLE_RATE,
    FasterWhisperTranscriber,
    audio_windows,
    quietest_point,
)

np = pytest.importorskip("numpy")  # faster-whisper's own dependency (the captions extra)

WORD_GAP = 0.08  # between two words of a sentence
SENTENCE_GAP = 0.45


def pitch(word: int) -> float:
    return 300.0 + 100.0 * word


def speech(words: list[int], sentence: int = 4, lead: float = 0.3) -> tuple[np.ndarray, list]:
    """int16 audio: one tone burst per word (0.25 to 0.45 s long, its pitch naming it), short
    gaps inside a sentence, longer ones between sentences, a little noise everywhere; and
    each word's (start, end) in seconds."""
    rng = np.random.default_rng(7)
    parts = [np.zeros(int(lead * SAMPLE_RATE))]
    times = []
    at = lead
    for i, word in enumerate(words):
        seconds = 0.25 + 0.05 * (i % 5)
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        parts.append(9000 * np.sin(2 * np.pi * pitch(word) * t))
        times.append((at, at + seconds))
        gap = SENTENCE_GAP if (i + 1) % sentence == 0 else WORD_GAP
        parts.append(np.zeros(int(gap * SAMPLE_RATE)))
        at += seconds + gap
    audio = np.concatenate(parts)
    audio += rng.normal(0, 40, audio.size)
    return audio.astype("<i2"), times


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return path


class Heard:
    """A stand-in for faster-whisper's WhisperModel: each run of loud 10 ms frames is a segment
    whose text names its pitch and whose times are the window's own; the language it "detects"
    is `xx`."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None]] = []

    def transcribe(self, audio, language=None, **_options):
        assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
        self.calls.append((audio.size, language))
        frame = SAMPLE_RATE // 100
        frames = audio[: audio.size // frame * frame].reshape(-1, frame)
        loud = np.sqrt((frames**2).mean(axis=1)) > 0.05
        segments = []
        i = 0
        while i < loud.size:
            if not loud[i]:
                i += 1
                continue
            j = i
            while j < loud.size and loud[j]:
                j += 1
            burst = audio[i * frame : j * frame]
            hz = np.argmax(np.abs(np.fft.rfft(burst))) * SAMPLE_RATE / burst.size
            word = round((hz - pitch(0)) / 100.0)
            segments.append(SimpleNamespace(start=i / 100, end=j / 100, text=f" w{word}"))
            i = j
        return iter(segments), SimpleNamespace(language="xx")


def transcriber(window: float, search: float, model=None) -> FasterWhisperTranscriber:
    # A model setting that cannot load: a test passes only if Whisper was not needed or the
    # stand-in was given.
    t = FasterWhisperTranscriber(
        "/nonexistent/model", window_seconds=window, cut_search_seconds=search
    )
    t._model = model
    return t


def run(t: FasterWhisperTranscriber, audio: Path, language=None, stop=lambda: None):
    reports: list[float] = []
    result = t.transcribe(audio, language, lambda percent, _step: reports.append(percent), stop)
    return result, reports


WORDS = [i % 12 for i in range(60)]


def test_windows_hold_every_sample_once_and_each_cut_falls_in_a_pause(tmp_path):
    samples, _times = speech(WORDS)
    audio = write_wav(tmp_path / "a.wav", samples)
    window, search = 5 * SAMPLE_RATE, 2 * SAMPLE_RATE
    with wave.open(str(audio), "rb") as wav:
        windows = list(audio_windows(wav, window, search))
    assert len(windows) > 5
    offsets = [offset for offset, _ in windows]
    sizes = [part.size for _, part in windows]
    assert offsets == [0, *np.cumsum(sizes)[:-1].tolist()]
    assert np.array_equal(np.concatenate([part for _, part in windows]), samples)
    assert all(window - search <= size <= window for size in sizes[:-1])
    for cut in offsets[1:]:  # 20 ms either side of every cut: no tone, only the noise
        assert np.abs(samples[cut - 320 : cut + 320].astype(np.int32)).max() < 1000


def test_the_cut_is_the_quietest_moment_and_in_the_middle_of_a_pause():
    rng = np.random.default_rng(1)
    loud = rng.normal(0, 3000, 10 * SAMPLE_RATE)
    quiet = loud.copy()
    quiet[2 * SAMPLE_RATE : int(2.3 * SAMPLE_RATE)] *= 0.05  # a soft pause
    quiet[int(6.0 * SAMPLE_RATE) : int(6.6 * SAMPLE_RATE)] = 0  # silence: the quietest
    quiet[int(8.5 * SAMPLE_RATE) : int(8.7 * SAMPLE_RATE)] *= 0.2  # later but louder
    cut = quietest_point(quiet, SAMPLE_RATE)
    assert abs(cut / SAMPLE_RATE - 6.3) < 0.05
    # Of two equally silent pauses the later one: the window stays as long as it can.
    two = loud.copy()
    two[3 * SAMPLE_RATE : int(3.4 * SAMPLE_RATE)] = 0
    two[7 * SAMPLE_RATE : int(7.4 * SAMPLE_RATE)] = 0
    assert abs(quietest_point(two, 0) / SAMPLE_RATE - 7.2) < 0.05
    # Only the stretch after `search_from` is looked at; too short a stretch is no cut.
    assert quietest_point(two, int(7.5 * SAMPLE_RATE)) > 7.5 * SAMPLE_RATE
    assert quietest_point(two, two.size - 100) == two.size


def test_every_word_is_heard_once_at_its_time_in_the_whole_lecture(tmp_path):
    samples, times = speech(WORDS)
    audio = write_wav(tmp_path / "a.wav", samples)
    model = Heard()
    result, _ = run(transcriber(5, 2, model), audio)
    assert [c.text for c in result.cues] == [f"w{w}" for w in WORDS]
    for cue, (start, end) in zip(result.cues, times, strict=True):
        assert abs(cue.start - start) <= 0.011 and abs(cue.end - end) <= 0.011
    assert all(a.end <= b.start for a, b in zip(result.cues, result.cues[1:], strict=False))
    assert len(model.calls) > 5  # one Whisper run per window
    assert abs(result.audio_seconds - samples.size / SAMPLE_RATE) < 1e-6
    assert result.language == "xx" and result.model == "model"
    # The first window detects the language; the windows after are told it.
    assert [language for _, language in model.calls] == [None] + ["xx"] * (len(model.calls) - 1)


def test_a_given_language_is_used_for_every_window(tmp_path):
    samples, _ = speech(WORDS[:30])
    model = Heard()
    result, _ = run(transcriber(5, 2, model), write_wav(tmp_path / "a.wav", samples), "fr")
    assert {language for _, language in model.calls} == {"fr"} and result.language == "fr"


def test_one_window_when_the_lecture_is_shorter_than_a_window(tmp_path):
    samples, _ = speech(WORDS[:8])
    model = Heard()
    result, _ = run(transcriber(120, 10, model), write_wav(tmp_path / "a.wav", samples))
    assert len(model.calls) == 1 and model.calls[0][0] == samples.size
    assert len(result.cues) == 8


def test_silent_windows_are_skipped_and_all_silence_never_needs_the_model(tmp_path):
    words, _ = speech(WORDS[:8])
    samples = np.concatenate([np.zeros(12 * SAMPLE_RATE, dtype="<i2"), words])
    model = Heard()
    result, _ = run(transcriber(5, 2, model), write_wav(tmp_path / "a.wav", samples))
    assert len(result.cues) == 8 and result.cues[0].start > 12
    assert len(model.calls) < 4  # the silent windows before the speech were not transcribed

    silence = write_wav(tmp_path / "silent.wav", np.zeros(30 * SAMPLE_RATE, dtype="<i2"))
    t = transcriber(5, 2)  # no stand-in, and a model that cannot load
    result, _ = run(t, silence)
    assert result.cues == [] and result.model == ""
    assert result.audio_seconds == pytest.approx(30.0)
    assert t._model is None


def test_progress_rises_window_by_window_and_stops_short_of_done(tmp_path):
    samples, _ = speech(WORDS)
    t = transcriber(5, 2, Heard())
    t.progress_every = 0.0
    _, reports = run(t, write_wav(tmp_path / "a.wav", samples))
    assert len(reports) > 10
    assert reports == sorted(reports) and reports[-1] <= 99.0 and reports[-1] > 90.0


def test_a_stop_is_honoured_between_windows_and_inside_one(tmp_path):
    samples, _ = speech(WORDS)
    audio = write_wav(tmp_path / "a.wav", samples)
    model = Heard()
    asked = []

    def stop_after(n):
        def stop():
            asked.append(1)
            return StopReason.CANCELED if len(asked) > n else None

        return stop

    with pytest.raises(JobStopped):
        run(transcriber(5, 2, model), audio, stop=stop_after(1))
    assert len(model.calls) == 1  # stopped inside the first window
    asked.clear()
    with pytest.raises(JobStopped):
        run(transcriber(60, 2, Heard()), audio, stop=stop_after(0))  # before any window


@pytest.mark.parametrize("rate, channels", [(8000, 1), (16000, 2)])
def test_audio_that_is_not_16k_mono_is_a_transcribe_failure(tmp_path, rate, channels):
    audio = write_wav(tmp_path / "a.wav", np.zeros(rate * channels, dtype="<i2"), rate, channels)
    with pytest.raises(VideoProcessingError) as failed:
        run(transcriber(5, 2, Heard()), audio)
    assert failed.value.code == ErrorCode.TRANSCRIBE_FAILED
    (tmp_path / "b.wav").write_bytes(b"not a wav")
    with pytest.raises(VideoProcessingError) as failed:
        run(transcriber(5, 2, Heard()), tmp_path / "b.wav")
    assert failed.value.code == ErrorCode.TRANSCRIBE_FAILED
