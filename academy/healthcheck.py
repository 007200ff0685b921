"""The image's HEALTHCHECK, the same for every role: python -m academy.healthcheck

A looping role (the worker, reconcile, the webhook dispatcher) keeps its liveness file
(LIVENESS_FILE) fresh: it is healthy while the file is younger than the age written in it. A
role without that file is the web role: healthy while GET /api/v1/health answers 200 on
127.0.0.1:$PORT (8000), asked for the first of DJANGO_ALLOWED_HOSTS. Exit 0 when healthy, 1 with
one line saying why when not. Only the standard library is imported: it runs every interval.
"""

from __future__ import annotations

import http.client
import os
import sys

from src.infrastructure.liveness import liveness_problem

HEALTH_PATH = "/api/v1/health"
# The HEALTHCHECK's own --timeout is longer: this one fails first, with a reason.
HTTP_TIMEOUT_SECONDS = 4.0


def web_problem(environ: dict[str, str]) -> str | None:
    port = int(environ.get("PORT") or 8000)
    hosts = [h.strip() for h in environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    # ".example.com" allows example.com and its subdomains; "*" allows anything.
    host = (hosts[0].lstrip(".*") if hosts else "") or "127.0.0.1"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_SECONDS)
    try:
        conn.request("GET", HEALTH_PATH, headers={"Host": host})
        status = conn.getresponse().status
    except OSError as exc:
        return f"GET {HEALTH_PATH} on port {port}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return None if status == 200 else f"GET {HEALTH_PATH} on port {port} answered {status}"


def main(environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    path = env.get("LIVENESS_FILE", "")
    problem = None
    try:
        problem = liveness_problem(path) if path else web_problem(env)
    except FileNotFoundError:
        web = web_problem(env)
        if web is not None:
            problem = f"no liveness file {path} (a loop not started yet) and {web}"
    if problem is None:
        return 0
    sys.stdout.write(f"unhealthy: {problem}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
