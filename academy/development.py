"""`python -m academy.development CMD ARGS…`: run CMD with the development settings
(academy.config.DEVELOPMENT_ENV) wherever the environment does not set them; `make serve` uses it.

The settings refuse to start without a secret key and a pepper, and debug is off unless asked
for: development says so explicitly, here, and prints that it did.
"""

from __future__ import annotations

import os
import shlex
import sys

from academy.config import DEVELOPMENT_ENV


def development_environ(environ: dict[str, str]) -> dict[str, str]:
    """`environ` with each development value it lacks; what it sets wins."""
    return {**DEVELOPMENT_ENV, **environ}


def main(argv: list[str]) -> None:
    if not argv:
        sys.stderr.write("usage: python -m academy.development (CMD [ARGS…] | --exports)\n")
        raise SystemExit(2)
    if argv == ["--exports"]:  # for `eval "$(python -m academy.development --exports)"`
        for name, value in DEVELOPMENT_ENV.items():
            if name not in os.environ:
                sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
        return
    filled = sorted(name for name in DEVELOPMENT_ENV if name not in os.environ)
    if filled:
        sys.stderr.write(
            f"development settings: {', '.join(filled)} set to development values "
            "(never use them in production; see .env.example)\n"
        )
    os.execvpe(argv[0], argv, development_environ(dict(os.environ)))  # noqa: S606 - no shell


if __name__ == "__main__":
    main(sys.argv[1:])
