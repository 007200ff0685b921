"""The real worker with the FakeTranscoder (FAKE_TRANSCODE_SECONDS long), for tests of the
worker's own behaviour without ffmpeg's cost."""

from __future__ import annotations

import os
import sys

from apps.worker.video_worker.sqs_main import main
from src.application.ports.fakes import FakeTranscoder

if __name__ == "__main__":
    seconds = float(os.environ.get("FAKE_TRANSCODE_SECONDS", "0"))
    steps = max(int(seconds * 10), 1)
    sys.exit(main(sys.argv[1:], transcoder=FakeTranscoder(seconds=seconds, steps=steps)))
