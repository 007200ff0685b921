"""The image's HEALTHCHECK (academy/healthcheck.py) and the liveness file the looping roles
keep fresh: a stuck loop, a missing file and a web role that does not answer are unhealthy,
each with one line saying why."""

from __future__ import annotations

import http.server
import os
import threading
import time

import pytest

from academy.healthcheck import main as healthcheck
from src.infrastructure.liveness import LivenessFile, liveness_problem


def test_a_fresh_file_is_healthy_and_a_stale_one_names_its_age(tmp_path, capsys):
    path = tmp_path / "alive"
    LivenessFile(str(path), 120).beat()
    assert healthcheck({"LIVENESS_FILE": str(path)}) == 0
    long_ago = time.time() - 300
    os.utime(path, (long_ago, long_ago))
    assert healthcheck({"LIVENESS_FILE": str(path)}) == 1
    out = capsys.readouterr().out
    assert out.startswith("unhealthy: ") and "is 300 s old (at most 120 s)" in out
    LivenessFile(str(path), 120).beat()  # the loop went round again
    assert liveness_problem(str(path)) is None


def test_a_beat_that_cannot_write_is_logged_once_and_never_raises(tmp_path):
    from structlog.testing import capture_logs

    liveness = LivenessFile(str(tmp_path / "no-such-dir" / "alive"), 60)
    with capture_logs() as logs:
        liveness.beat()
        liveness.beat()
    assert [e["event"] for e in logs] == ["LIVENESS_FILE_FAILED"]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    hosts: list[str] = []

    def do_GET(self):
        type(self).hosts.append(self.headers["Host"])
        self.send_response(self.status if self.path == "/api/v1/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Health.hosts, _Health.status = [], 200
    yield server
    server.shutdown()
    server.server_close()


def test_without_a_liveness_file_the_web_role_is_asked_for_health(web, tmp_path, capsys):
    env = {
        "LIVENESS_FILE": str(tmp_path / "never-written"),
        "PORT": str(web.server_address[1]),
        "DJANGO_ALLOWED_HOSTS": ".example.com,api.example.org",
    }
    assert healthcheck(env) == 0
    assert _Health.hosts == ["example.com"]  # a host Django's ALLOWED_HOSTS accepts
    _Health.status = 503
    assert healthcheck(env) == 1
    assert "answered 503" in capsys.readouterr().out


def test_no_liveness_file_and_no_web_server_is_unhealthy(tmp_path, capsys):
    with http.server.HTTPServer(("127.0.0.1", 0), _Health) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    env = {"LIVENESS_FILE": str(tmp_path / "never-written"), "PORT": str(port)}
    assert healthcheck(env) == 1
    out = capsys.readouterr().out
    assert "no liveness file" in out and "ConnectionRefusedError" in out
