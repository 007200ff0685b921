"""S3Storage: media in an S3 bucket (or moto/LocalStack through AWS_ENDPOINT_URL), via boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from src.application.ports.storage import (
    DirectUploads,
    MultipartRejected,
    Storage,
    StorageError,
    StreamTooLarge,
    UnfinishedUpload,
    storage_error_from,
)
from src.infrastructure.storage.content_types import content_type
from src.infrastructure.storage.keys import check_key, files_below, join_key
from src.infrastructure.storage.local_storage import STREAM_CHUNK_BYTES

MIB = 1024 * 1024
# Sources run to gigabytes: 8 MiB parts keep memory flat and let a failed part be retried alone;
# four parallel parts roughly saturate one worker's uplink without starving the encoder.
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4
)
# HLS output is many small files: a few in flight at once hides per-request latency.
DIRECTORY_WORKERS = 4
# The DeleteObjects API takes at most 1000 keys per call.
DELETE_BATCH = 1000

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}

T = TypeVar("T")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _CountingReader:
    """A read-only view of a stream that refuses to yield more than `limit` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.count = 0
        self.exceeded = False

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.count += len(chunk)
        if self.count > self.limit:
            self.exceeded = True
            raise StreamTooLarge(self.limit)
        return chunk


class S3Storage(Storage, DirectUploads):
    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        transfer_config: TransferConfig | None = None,
        directory_workers: int = DIRECTORY_WORKERS,
        delete_batch_size: int = DELETE_BATCH,
    ) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        self.client = client
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/"), prefix=True)
        self.transfer_config = transfer_config or DEFAULT_TRANSFER
        self.directory_workers = max(1, directory_workers)
        self.delete_batch_size = max(1, min(delete_batch_size, DELETE_BATCH))

    # -- keys -----------------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        return join_key(self.prefix, check_key(key))

    def _full_prefix(self, prefix: str) -> str:
        check_key(prefix, prefix=True)
        return f"{self.prefix}/{prefix}" if self.prefix else prefix

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    # -- errors ---------------------------------------------------------------------------------

    def _call(self, what: str, key: str, fn: Callable[[], T], *, missing_ok: bool = False) -> T:
        """Run one boto3 call; 404 becomes FileNotFoundError, anything else StorageError."""
        where = f"s3://{self.bucket}/{key}"
        try:
            return fn()
        except ClientError as exc:
            code = _error_code(exc)
            if code in _NO_BUCKET:
                raise self._no_bucket(what, where) from exc
            if code in _NOT_FOUND and missing_ok:
                # HEAD answers a bare 404 for a missing bucket too: tell the two apart.
                self._require_bucket(what, where)
                raise FileNotFoundError(f"no object at {where}") from None
            raise StorageError(f"S3 {what} {where} failed: {code or 'error'}: {exc}") from exc
        except Boto3Error as exc:  # S3UploadFailedError wraps the ClientError as text
            if "NoSuchBucket" in str(exc):
                raise self._no_bucket(what, where) from exc
            raise StorageError(f"S3 {what} {where} failed: {exc}") from exc
        except BotoCoreError as exc:  # endpoint unreachable, credentials missing, timeouts
            raise StorageError(f"S3 {what} {where} failed: {exc}") from exc
        except OSError as exc:  # the local side: reading the upload, writing a download
            raise storage_error_from(exc, f"S3 {what} {where}") from exc

    def _no_bucket(self, what: str, where: str) -> StorageError:
        return StorageError(f"S3 {what} {where} failed: bucket {self.bucket!r} does not exist")

    def _require_bucket(self, what: str, where: str) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND | _NO_BUCKET:
                raise self._no_bucket(what, where) from exc
            raise StorageError(f"S3 {what} {where} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {what} {where} failed: {exc}") from exc

    # -- the port -------------------------------------------------------------------------------

    def put_file(self, local_path: Path, key: str) -> None:
        full = self._full(key)
        self._call(
            "upload to",
            full,
            lambda: self.client.upload_file(
                str(local_path),
                self.bucket,
                full,
                ExtraArgs={"ContentType": content_type(full)},
                Config=self.transfer_config,
            ),
        )

    def put_stream(self, stream: BinaryIO, key: str, max_bytes: int) -> int:
        full = self._full(key)
        reader = _CountingReader(stream, max_bytes)
        try:
            # upload_fileobj reads part by part (multipart above the threshold) and aborts the
            # multipart upload when a read fails: a refused stream leaves no object behind.
            self._call(
                "upload to",
                full,
                lambda: self.client.upload_fileobj(
                    reader,
                    self.bucket,
                    full,
                    ExtraArgs={"ContentType": content_type(full)},
                    Config=self.transfer_config,
                ),
            )
        except Exception:
            if reader.exceeded:
                raise StreamTooLarge(max_bytes) from None
            raise
        return reader.count

    # -- direct uploads -------------------------------------------------------------------------

    def presign_put(self, key: str, expires_seconds: int) -> str:
        full = self._full(key)
        return self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": full},
            ExpiresIn=expires_seconds,
            HttpMethod="PUT",
        )

    def start_multipart(self, key: str) -> str:
        full = self._full(key)
        response = self._call(
            "multipart start of",
            full,
            lambda: self.client.create_multipart_upload(
                Bucket=self.bucket, Key=full, ContentType=content_type(full)
            ),
        )
        return str(response["UploadId"])

    def presign_part(self, key: str, upload_id: str, part_number: int, expires_seconds: int) -> str:
        full = self._full(key)
        return self.client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": full,
                "UploadId": upload_id,
                "PartNumber": part_number,
            },
            ExpiresIn=expires_seconds,
            HttpMethod="PUT",
        )

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]] | None
    ) -> None:
        full = self._full(key)
        try:
            if parts is None:
                paginator = self.client.get_paginator("list_parts")
                parts = [
                    (p["PartNumber"], p["ETag"])
                    for page in paginator.paginate(Bucket=self.bucket, Key=full, UploadId=upload_id)
                    for p in page.get("Parts", [])
                ]
            if not parts:
                raise MultipartRejected("no part has been uploaded")
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [
                        {"PartNumber": n, "ETag": etag if etag.startswith('"') else f'"{etag}"'}
                        for n, etag in sorted(parts)
                    ]
                },
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code in {"NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall"}:
                raise MultipartRejected(
                    f"{code}: {exc.response['Error'].get('Message', '')}"
                ) from None
            raise StorageError(f"S3 multipart completion of {full} failed: {code}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 multipart completion of {full} failed: {exc}") from exc

    def abort_multipart(self, key: str, upload_id: str) -> None:
        full = self._full(key)
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        except ClientError as exc:
            if _error_code(exc) != "NoSuchUpload":
                raise StorageError(f"S3 multipart abort of {full} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 multipart abort of {full} failed: {exc}") from exc

    def get_file(self, key: str, local_path: Path) -> None:
        full = self._full(key)
        local_path = Path(local_path)
        try:
            local_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error_from(exc, f"creating {local_path.parent}") from exc
        # s3transfer writes to a temporary name and renames it at the end: never a half file.
        self._call(
            "download of",
            full,
            lambda: self.client.download_file(
                self.bucket, full, str(local_path), Config=self.transfer_config
            ),
            missing_ok=True,
        )

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        full = self._full(key)
        response = self._call(
            "read of",
            full,
            lambda: self.client.get_object(
                Bucket=self.bucket, Key=full, Range=f"bytes={start}-{end}"
            ),
            missing_ok=True,
        )
        return response["Body"].iter_chunks(STREAM_CHUNK_BYTES)

    def put_directory(self, local_dir: Path, prefix: str) -> list[str]:
        check_key(prefix, prefix=True)
        files = [(path, join_key(prefix, name)) for path, name in files_below(local_dir)]
        with ThreadPoolExecutor(self.directory_workers, thread_name_prefix="s3-put") as pool:
            futures = [pool.submit(self.put_file, path, key) for path, key in files]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in done:
                future.result()  # re-raises the first failure (already a StorageError)
        return [key for _path, key in files]

    def _head(self, key: str) -> dict[str, Any]:
        full = self._full(key)
        return self._call(
            "lookup of",
            full,
            lambda: self.client.head_object(Bucket=self.bucket, Key=full),
            missing_ok=True,
        )

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def content_type_of(self, key: str) -> str:
        """The stored Content-Type (what a player will be served)."""
        return str(self._head(key).get("ContentType", ""))

    def _list_full(self, prefix: str) -> list[str]:
        full_prefix = self._full_prefix(prefix)

        def collect() -> list[str]:
            paginator = self.client.get_paginator("list_objects_v2")
            return [
                obj["Key"]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix)
                for obj in page.get("Contents", [])
            ]

        return sorted(self._call("listing of", full_prefix + "*", collect))

    def list_keys(self, prefix: str) -> list[str]:
        return [self._relative(k) for k in self._list_full(prefix)]

    def newest_write(self, prefix: str) -> float | None:
        full_prefix = self._full_prefix(prefix)

        def newest() -> float | None:
            paginator = self.client.get_paginator("list_objects_v2")
            times = [
                obj["LastModified"].timestamp()
                for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix)
                for obj in page.get("Contents", [])
            ]
            return max(times) if times else None

        return self._call("listing of", full_prefix + "*", newest)

    def delete_prefix(self, prefix: str) -> int:
        keys = self._list_full(prefix)
        for start in range(0, len(keys), self.delete_batch_size):
            batch = keys[start : start + self.delete_batch_size]
            response = self._call(
                "delete below",
                self._full_prefix(prefix) + "*",
                lambda batch=batch: self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                ),
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"S3 delete of {len(errors)} object(s) in s3://{self.bucket} failed, "
                    f"first {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )
        return len(keys)

    def unfinished_uploads(self, idle_since: float) -> list[UnfinishedUpload]:
        root = f"{self.prefix}/" if self.prefix else ""

        def started() -> list[tuple[str, str, float]]:
            paginator = self.client.get_paginator("list_multipart_uploads")
            return [
                (u["Key"], u["UploadId"], u["Initiated"].timestamp())
                for page in paginator.paginate(Bucket=self.bucket, Prefix=root)
                for u in page.get("Uploads", [])
            ]

        found = []
        for full, upload_id, initiated in self._call("multipart listing of", root + "*", started):
            if initiated >= idle_since:
                continue
            # A transfer in progress writes parts: its newest part, not its start, says idle.
            last = max([initiated, *self._part_times(full, upload_id)])
            if last < idle_since:
                found.append(UnfinishedUpload(self._relative(full), upload_id, last))
        return sorted(found, key=lambda u: (u.key, u.upload_id))

    def _part_times(self, full: str, upload_id: str) -> list[float]:
        paginator = self.client.get_paginator("list_parts")
        try:
            return [
                p["LastModified"].timestamp()
                for page in paginator.paginate(Bucket=self.bucket, Key=full, UploadId=upload_id)
                for p in page.get("Parts", [])
            ]
        except ClientError as exc:
            if _error_code(exc) == "NoSuchUpload":
                return []  # completed or aborted meanwhile: nothing newer was written
            raise StorageError(f"S3 part listing of {full} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 part listing of {full} failed: {exc}") from exc

    def abort_unfinished(self, upload: UnfinishedUpload) -> None:
        self.abort_multipart(upload.key, upload.upload_id)

    def locate(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"
