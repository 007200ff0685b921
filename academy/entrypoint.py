"""The image's ENTRYPOINT: python -m academy.entrypoint COMMAND [ARG...]

Reads the configuration the way every role does (academy/config.py) and, when it is valid,
replaces itself with COMMAND (exec: the command is the container's PID 1 and gets its
signals). When it is not, the container stops with exit 1 and one line naming the setting
(`configuration error: DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0`), whatever the role:
uvicorn would otherwise end in a traceback.
"""

from __future__ import annotations

import os
import sys

from academy.config import ConfigError, load_config


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m academy.entrypoint COMMAND [ARG...]\n")
        return 2
    try:
        load_config()
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 1
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - the role's command, as the image was given it
    except OSError as exc:
        sys.stderr.write(f"cannot run {argv[0]!r}: {exc.strerror}\n")
        return 127
    return 0  # not reached: execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
