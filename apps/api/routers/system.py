"""Health (the process answers), readiness (its dependencies answer), version, problem types."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import subprocess

import structlog
from django.db import connection
from django.http import HttpRequest
from ninja import Router, Schema

from academy.config import BASE_DIR
from academy.current import use_cases
from apps.api.http.problems import problem, title
from src.application.domain import ErrorCode

router = Router(tags=["system"])
log = structlog.get_logger("apps.api")
PACKAGE = "academy-video-pipeline"


class HealthOut(Schema):
    status: str


class ReadyOut(Schema):
    status: str
    checks: dict[str, str]


class VersionOut(Schema):
    version: str
    revision: str


class ProblemTypeOut(Schema):
    code: str
    title: str


@router.get("/health", response=HealthOut, auth=None, summary="The process is up")
def health(request: HttpRequest):
    return {"status": "ok"}


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@router.get(
    "/ready",
    response={200: ReadyOut},
    auth=None,
    summary="Database, Redis and the SQS queue answer (503 naming what failed)",
)
def ready(request: HttpRequest):
    results: dict[str, str] = {}
    for name, check in {"database": _check_database, **use_cases().checks}.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; it is reported
            results[name] = f"failed: {type(exc).__name__}"
            log.warning("API_NOT_READY", dependency=name, error=f"{type(exc).__name__}: {exc}")
    failed = sorted(name for name, result in results.items() if result != "ok")
    if failed:
        return problem(
            request,
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            f"not ready: {', '.join(failed)} unavailable",
            checks=results,
        )
    return 200, {"status": "ready", "checks": results}


@functools.cache
def _revision() -> str:
    if os.environ.get("GIT_REVISION"):
        return os.environ["GIT_REVISION"].strip()[:40]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


@router.get("/version", response=VersionOut, auth=None, summary="Package version and revision")
def version(request: HttpRequest):
    try:
        package_version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        package_version = "unknown"
    return {"version": package_version, "revision": _revision()}


@router.get(
    "/problems/{code}",
    response={200: ProblemTypeOut, 404: dict},
    auth=None,
    summary="What a problem `type` means",
)
def problem_type(request: HttpRequest, code: str):
    try:
        error_code = ErrorCode(code)
    except ValueError:
        return problem(request, 404, ErrorCode.NOT_FOUND, f"there is no problem type {code!r}")
    return 200, {"code": str(error_code), "title": title(error_code)}
