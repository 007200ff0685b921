#!/usr/bin/env python
"""Django's command-line utility; configuration errors end with one clear line, not a traceback."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "academy.settings")
    from django.core.management import execute_from_command_line

    from academy.config import ConfigError

    try:
        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
