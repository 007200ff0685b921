"""The signed source upload URL on file storage, the counterpart of S3's presigned PUT.

`POST /api/v1/videos` (JSON) answers with `upload.url` = `/api/v1/videos/{id}/source?signature=…`:
a JWT (HS256 with the project's SECRET_KEY) bound to the tenant and the video, with the
audience `video-source-upload` and the upload's own expiry (VIDEO_UPLOAD_TTL_SECONDS). The URL
works as given, with no API key: the PUT needs only the headers in `upload.headers`. The
signature opens that one route for that one video and nothing else; the route still takes an
API key too. A refusal says only that the signature is not valid (the reason goes to the log,
never the token).
"""

from __future__ import annotations

from datetime import datetime

import jwt
import structlog
from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyQuery

from apps.api.keys.api_keys import Principal
from apps.api.keys.auth import authenticated

log = structlog.get_logger("apps.api")

PARAM = "signature"
AUDIENCE = "video-source-upload"
ALGORITHM = "HS256"
# Clock skew tolerated between the process that signed and the one that checks.
LEEWAY_SECONDS = 5
# A URL signature is a few hundred characters; anything much longer is not ours.
MAX_SIGNATURE_LENGTH = 1000


def sign(tenant_id: int, video_id: int, expires_at: datetime) -> str:
    claims = {"aud": AUDIENCE, "t": int(tenant_id), "v": int(video_id), "exp": expires_at}
    return jwt.encode(claims, settings.CONFIG.secret_key, algorithm=ALGORITHM)


def verify(signature: str, video_id: int) -> int:
    """The tenant the signature speaks for, if it is valid for `video_id`; jwt.InvalidTokenError
    otherwise."""
    if len(signature) > MAX_SIGNATURE_LENGTH:
        raise jwt.InvalidTokenError("signature too long")
    claims = jwt.decode(
        signature,
        settings.CONFIG.secret_key,
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        leeway=LEEWAY_SECONDS,
        options={"require": ["exp", "aud", "t", "v"]},
    )
    if claims["v"] != video_id or not isinstance(claims["t"], int):
        raise jwt.InvalidTokenError("signature for another video")
    return claims["t"]


class UploadSignature(APIKeyQuery):
    """`?signature=` on PUT /videos/{id}/source: the signed upload URL's credential."""

    param_name = PARAM

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        if not key:
            return None
        match = getattr(request, "resolver_match", None)
        video_id = (match.kwargs if match is not None else {}).get("video_id")
        try:
            tenant_id = verify(key, int(video_id))
        except (jwt.InvalidTokenError, TypeError, ValueError) as exc:
            log.info("UPLOAD_SIGNATURE_REFUSED", video_id=video_id, reason=type(exc).__name__)
            request.auth_failure = "the upload URL's signature is not valid or has expired"
            return None
        # Signed uploads of one tenant share one rate-limit bucket of their own.
        principal = Principal(tenant_id=tenant_id, key_id=0, key_prefix=f"upload-{tenant_id}")
        return authenticated(request, principal)
