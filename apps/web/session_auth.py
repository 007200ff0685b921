"""Browser sessions for the web pages: an API key exchanged once for a signed session cookie.

The key itself is never kept: the session holds the tenant id and the key's row id, and each
request checks that the key is still active (revoking it signs every browser out). The
cookie is signed with SECRET_KEY, `HttpOnly`, `SameSite=Lax` and `Secure` outside debug
(academy/settings.py). The pages' scripts call the API with this cookie; every unsafe method
then needs the CSRF token (`X-CSRFToken`), which the pages carry in a `<meta>` tag.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie
from ninja.utils import check_csrf

from apps.api.keys.api_keys import Principal, verify_key
from apps.api.keys.auth import authenticated
from apps.api.models import ApiKey

SESSION_TENANT = "academy_tenant_id"
SESSION_KEY_ID = "academy_api_key_id"


def sign_in(request: HttpRequest, key: str) -> Principal:
    """Check `key` (KeyRejected when it is not a valid, active key) and start a session."""
    principal = verify_key(key, settings.CONFIG.api_key_pepper)
    request.session.cycle_key()  # a new session id: no fixation across sign-ins
    request.session[SESSION_TENANT] = principal.tenant_id
    request.session[SESSION_KEY_ID] = principal.key_id
    return principal


def sign_out(request: HttpRequest) -> None:
    request.session.flush()


def session_principal(request: HttpRequest) -> Principal | None:
    """The tenant this browser signed in as, while its key is still active; else None."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    tenant_id, key_id = session.get(SESSION_TENANT), session.get(SESSION_KEY_ID)
    if not isinstance(tenant_id, int) or not isinstance(key_id, int):
        return None
    active = ApiKey.objects.filter(id=key_id, tenant_id=tenant_id, revoked_at__isnull=True)
    prefix = active.values_list("prefix", flat=True).first()
    if prefix is None:
        session.flush()
        return None
    # The key's prefix names its rate-limit bucket: a browser shares its key's limit.
    return Principal(tenant_id=tenant_id, key_id=key_id, key_prefix=prefix)


class SessionKey(APIKeyCookie):
    """API auth by the web pages' session cookie; unsafe methods need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        cookie = request.COOKIES.get(self.param_name)
        # Only a request that relies on the cookie is checked: API clients sending a key in a
        # header never reach this class (an earlier one authenticated them).
        if cookie and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            request.auth_failure = "the CSRF token is missing or wrong"
            raise HttpError(403, "CSRF check failed: send the page's token as X-CSRFToken")
        return cookie

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        if not key:
            return None
        principal = session_principal(request)
        if principal is None:
            request.auth_failure = "the session has ended: sign in again"
            return None
        return authenticated(request, principal)
