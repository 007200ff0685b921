"""The lease queries a video and a caption job share: the same conditional UPDATEs on the
database clock, on whichever rows hold the lease (`leased_by`, `leased_until`, `lease_token`,
`attempts`, `processing_started_at`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import Error as DatabaseError
from django.db import connections
from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Now

from src.application.ports.video_repository import ProcessingRow


def db_now(using: str = "default") -> datetime:
    """The database's current time (UTC)."""
    conn = connections[using]
    with conn.cursor() as cur:
        if conn.vendor == "sqlite":
            cur.execute("SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')")
            return datetime.fromisoformat(cur.fetchone()[0]).replace(tzinfo=UTC)
        cur.execute("SELECT NOW()")
        value = cur.fetchone()[0]
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def ping(using: str) -> None:
    conn = connections[using]
    try:
        conn.close_if_unusable_or_obsolete()
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        conn.close()  # the next call opens a fresh one
        raise


def recover_from(exc: BaseException) -> bool:
    if not isinstance(exc, DatabaseError):
        return False
    connections.close_all()
    return True


class OnOneDatabase:
    """What a repository on one database alias shares: its rows through a connection that
    survives an outage, the readiness ping and the recovery after a database error."""

    using: str

    def _objects(self, model):
        conn = connections[self.using]
        if not conn.in_atomic_block:
            # After a database outage this thread's connection is dead: drop it here so the
            # query opens a new one (cheap when nothing went wrong: no round trip).
            conn.close_if_unusable_or_obsolete()
        return model.objects.using(self.using)

    def ping(self) -> None:
        ping(self.using)

    def recover_from(self, exc: BaseException) -> bool:
        return recover_from(exc)


def processing_rows(rows: QuerySet, id_field: str, using: str, limit: int) -> list[ProcessingRow]:
    """The PROCESSING rows (`rows` is already filtered to them), expired leases first, with
    ages on the database clock; `id_field` names the video id column."""
    now = db_now(using)
    found = (
        rows.annotate(
            expired=Case(
                When(Q(leased_until__lt=Now()) | Q(leased_until__isnull=True), then=True),
                default=False,
                output_field=BooleanField(),
            )
        )
        .order_by("-expired", "leased_until")
        .values(
            id_field, "tenant_id", "leased_by", "lease_token", "expired", "processing_started_at"
        )[:limit]
    )
    return [
        ProcessingRow(
            video_id=r[id_field],
            tenant_id=r["tenant_id"],
            leased_by=r["leased_by"],
            lease_token=r["lease_token"],
            lease_expired=bool(r["expired"]),
            seconds_since_started=(now - (r["processing_started_at"] or now)).total_seconds(),
        )
        for r in found
    ]


def reclaim(
    rows: QuerySet,
    back_to: str,
    *,
    force: bool,
    expected_token: int | None,
    expected_worker: str | None,
) -> bool:
    """PROCESSING `rows` with an expired lease (any, with `force`) back to `back_to`, fenced
    on the claim the caller looked at."""
    if not force:
        rows = rows.filter(leased_until__lt=Now())
    if expected_token is not None:
        rows = rows.filter(lease_token=expected_token)
    if expected_worker is not None:
        rows = rows.filter(leased_by=expected_worker)
    return bool(rows.update(status=back_to, leased_by="", leased_until=None, updated_at=Now()))


def release(rows: QuerySet, back_to: str, error_code: str, message: str) -> bool:
    """Back to `back_to` without counting the attempt (fenced `rows`)."""
    errors: dict[str, Any] = {"error_code": error_code, "error_message": message[:2000]}
    return bool(
        rows.update(
            status=back_to,
            leased_by="",
            leased_until=None,
            attempts=Case(When(attempts__gt=0, then=F("attempts") - 1), default=Value(0)),
            **(errors if error_code else {}),
            updated_at=Now(),
        )
    )
