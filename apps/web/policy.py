"""The Content-Security-Policy of every page (django-csp): this site's own scripts only.

No inline script and no script from elsewhere, hls.js included (vendored under static/).
Media, thumbnails and playlists come from this site or from VIDEO_PUBLIC_BASE_URL (a CDN);
uploads go to this site (file storage) or straight to the bucket (S3 presigned URLs).
The API's interactive docs (/api/v1/docs) load Swagger UI from its CDN and are left out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from csp.constants import NONE, SELF


def _origin(url: str) -> str | None:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme and parsed.netloc else None


def upload_origins(storage_url: str, endpoint_url: str, region: str) -> list[str]:
    """Where the browser sends a source's bytes besides this site: the S3 endpoint."""
    if urlparse(storage_url).scheme != "s3":
        return []
    endpoint = _origin(endpoint_url) if endpoint_url else None
    if endpoint:
        return [endpoint]
    return ["https://*.amazonaws.com", f"https://s3.{region}.amazonaws.com"]


def content_security_policy(config: Any) -> dict[str, Any]:
    media = [SELF]
    cdn = _origin(config.public_base_url) if config.public_base_url else None
    if cdn:
        media.append(cdn)
    uploads = upload_origins(config.storage_url, config.aws_endpoint_url, config.aws_region)
    return {
        "EXCLUDE_URL_PREFIXES": ["/api/v1/docs"],
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF],
            "style-src": [SELF],
            "img-src": [*media, "data:"],
            # hls.js hands the <video> a MediaSource object URL (blob:).
            # hls.js adds each caption track as <track src="data:,WEBVTT"> and fills its cues
            # from script: the data: URL carries no content of its own.
            "media-src": [*media, "blob:", "data:"],
            # 'self' covers this host's ws:// and wss:// too (live progress).
            "connect-src": sorted(set(media + uploads)),
            "font-src": [SELF],
            "object-src": [NONE],
            "base-uri": [SELF],
            "form-action": [SELF],
            "frame-ancestors": [NONE],
        },
    }
