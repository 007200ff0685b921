"""The image's ENTRYPOINT: a bad or missing setting stops any role with one line; a valid
configuration runs the command in its place."""

from __future__ import annotations

import os
import subprocess
import sys


def entrypoint(*command: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_KEY"))}
    return subprocess.run(
        [sys.executable, "-m", "academy.entrypoint", *command],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_default_without_a_secret_stops_with_one_line():
    done = entrypoint("python", "-c", "print('started')", DJANGO_DEBUG="0")
    assert done.returncode == 1
    assert done.stderr == "configuration error: DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0\n"
    assert "started" not in done.stdout


def test_a_valid_configuration_runs_the_command_in_its_place():
    # In its place: the same process (PID 1 in a container), so it gets the stop signal.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_KEY"))}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="unit-test-secret-key-0123456789",
        API_KEY_PEPPER="unit-test-pepper-0123456789",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
    )
    command = [sys.executable, "-c", "import os; print(os.getpid())"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "academy.entrypoint", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == str(proc.pid)


def test_a_command_that_does_not_exist_is_named():
    done = entrypoint("no-such-program-here", DJANGO_DEBUG="1")
    assert done.returncode == 127
    assert "cannot run 'no-such-program-here'" in done.stderr
