"""Credentials never leave the process in text: URLs lose their `user:password@` part, and
query parameters that are credentials (playback and progress tokens, CloudFront signatures)
lose their value.

botocore, psycopg2 and redis-py put the URL they were given into their error messages, so an
`AWS_ENDPOINT_URL=http://key:secret@host` would otherwise reach the logs and the video rows.
"""

from __future__ import annotations

import re
from typing import Any

# scheme://, then the authority's userinfo: everything up to its last "@" before the path.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/\"'<>]*@")
REDACTED_USERINFO = r"\1***@"
# `token=` (playback, live progress), CloudFront's `Signature=` / `Policy=`, S3's presigned
# `X-Amz-Signature=` / `X-Amz-Credential=` / `X-Amz-Security-Token=`.
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:token|signature|policy|x-amz-signature|x-amz-credential|"
    r"x-amz-security-token)=)[^&\s\"'<>]+"
)
REDACTED_QUERY = r"\1***"


def redact_url_credentials(text: str) -> str:
    """`text` with the userinfo of every URL in it, and every secret query value, as ***."""
    if "@" in text:
        text = _USERINFO.sub(REDACTED_USERINFO, text)
    if "=" in text:
        text = _SECRET_QUERY.sub(REDACTED_QUERY, text)
    return text


def redact_value(value: Any) -> Any:
    """The same for every string inside a log field (dicts and lists included)."""
    if isinstance(value, str):
        return redact_url_credentials(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value
