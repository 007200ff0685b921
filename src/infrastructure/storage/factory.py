"""VIDEO_STORAGE_URL to a Storage adapter: `file:///abs/path` or `s3://bucket/prefix`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from src.application.ports.storage import Storage

# Directory uploads run DIRECTORY_WORKERS files at once, each with up to max_concurrency parts:
# the pool must hold them all, or urllib3 discards connections and warns.
S3_MAX_POOL_CONNECTIONS = 32


def s3_client(region: str = "us-east-1", endpoint_url: str = ""):
    """An S3 client with standard retries; path-style addressing when an endpoint is given."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=region or "us-east-1",
        endpoint_url=endpoint_url or None,
        config=Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=S3_MAX_POOL_CONNECTIONS,
            # Presigned upload URLs: SigV4, the only signature every region accepts.
            signature_version="s3v4",
            # moto and LocalStack on loopback have no DNS for bucket subdomains.
            s3={"addressing_style": "path"} if endpoint_url else None,
        ),
    )


def storage_from_url(url: str, region: str = "us-east-1", endpoint_url: str = "") -> Storage:
    """The adapter VIDEO_STORAGE_URL names; ValueError (naming the variable) when it is invalid."""
    parsed = urlparse(url or "")
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        if parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ValueError(
                f"VIDEO_STORAGE_URL must be file:///absolute/path (three slashes), got {url!r}"
            )
        from src.infrastructure.storage.local_storage import LocalStorage

        root = Path(path)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"VIDEO_STORAGE_URL folder {path!r} cannot be created: {exc}"
            ) from None
        return LocalStorage(root)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"VIDEO_STORAGE_URL must be s3://bucket/prefix, got {url!r}")
        from src.infrastructure.storage.s3_storage import S3Storage

        try:
            return S3Storage(s3_client(region, endpoint_url), parsed.netloc, parsed.path)
        except ValueError as exc:
            raise ValueError(f"VIDEO_STORAGE_URL has an invalid prefix: {exc}") from None
    raise ValueError(
        "VIDEO_STORAGE_URL must be file:///absolute/path or s3://bucket/prefix, "
        f"got scheme {parsed.scheme!r}"
    )
