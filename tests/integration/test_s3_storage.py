"""S3Storage against moto: the shared Storage contract, multipart, content types, batching,
and botocore failures turned into FileNotFoundError / StorageError."""

from __future__ import annotations

import socket

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from src.application.ports.storage import StorageError
from src.infrastructure.storage.factory import storage_from_url
from src.infrastructure.storage.s3_storage import MIB, S3Storage
from tests.aws_helpers import moto_bucket
from tests.contracts.storage import StorageContract, hls_tree, write

BUCKET = "academy-media"


@pytest.fixture
def aws(monkeypatch):
    with moto_bucket(monkeypatch, BUCKET) as client:
        yield client


class TestS3StorageContract(StorageContract):
    @pytest.fixture
    def storage(self, aws):
        return S3Storage(aws, BUCKET)


class TestS3StorageUnderARootPrefixContract(StorageContract):
    @pytest.fixture
    def storage(self, aws):
        return S3Storage(aws, BUCKET, prefix="/media/prod/")


def test_root_prefix_is_applied_and_hidden(aws, tmp_path):
    storage = S3Storage(aws, BUCKET, prefix="media")
    storage.put_file(write(tmp_path / "f", b"x"), "tenants/1/videos/2/source/a.mp4")
    raw = [o["Key"] for o in aws.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert raw == ["media/tenants/1/videos/2/source/a.mp4"]
    assert storage.list_keys("") == ["tenants/1/videos/2/source/a.mp4"]
    assert (
        storage.locate("tenants/1/videos/2/source/a.mp4")
        == f"s3://{BUCKET}/media/tenants/1/videos/2/source/a.mp4"
    )


def test_large_file_is_uploaded_in_parts(aws, tmp_path):
    data = bytes(range(256)) * (12 * MIB // 256)
    big = write(tmp_path / "big.mp4", data)
    small_parts = TransferConfig(
        multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2
    )
    storage = S3Storage(aws, BUCKET, transfer_config=small_parts)
    storage.put_file(big, "tenants/1/videos/1/source/big.mp4")

    head = aws.head_object(Bucket=BUCKET, Key="tenants/1/videos/1/source/big.mp4")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB
    assert head["ContentLength"] == len(data)
    storage.get_file("tenants/1/videos/1/source/big.mp4", tmp_path / "back.mp4")
    assert (tmp_path / "back.mp4").read_bytes() == data


def test_small_file_is_one_put(aws, tmp_path):
    S3Storage(aws, BUCKET).put_file(write(tmp_path / "s", b"abc"), "s.mp4")
    assert "-" not in aws.head_object(Bucket=BUCKET, Key="s.mp4")["ETag"]


def test_content_types_follow_the_extension(aws, tmp_path):
    tree = hls_tree(tmp_path / "out")
    write(tree / "360p" / "init.mp4", b"\0" * 8)
    write(tree / "360p" / "seg_000.m4s", b"\0" * 8)
    write(tree / "meta.bin", b"\0")
    storage = S3Storage(aws, BUCKET)
    storage.put_directory(tree, "v/hls/1")
    expected = {
        "v/hls/1/master.m3u8": "application/vnd.apple.mpegurl",
        "v/hls/1/360p/index.m3u8": "application/vnd.apple.mpegurl",
        "v/hls/1/360p/seg_000.ts": "video/mp2t",
        "v/hls/1/360p/seg_000.m4s": "video/iso.segment",
        "v/hls/1/360p/init.mp4": "video/mp4",
        "v/hls/1/thumbnail.jpg": "image/jpeg",
        "v/hls/1/meta.bin": "application/octet-stream",
    }
    got = {key: storage.content_type_of(key) for key in expected}
    assert got == expected
    storage.put_file(tree / "thumbnail.jpg", "v/thumbnail.jpg")
    assert storage.content_type_of("v/thumbnail.jpg") == "image/jpeg"


def test_put_directory_uses_bounded_threads_and_skips_symlinks(aws, tmp_path):
    tree = hls_tree(tmp_path / "out")
    (tree / "360p" / "leak.ts").symlink_to(write(tmp_path / "secret", b"not yours"))
    for i in range(20):
        write(tree / "360p" / f"extra_{i:03d}.ts", b"\x47" * 188)
    storage = S3Storage(aws, BUCKET, directory_workers=3)
    keys = storage.put_directory(tree, "v/hls/1")
    assert len(keys) == 25
    assert "v/hls/1/360p/leak.ts" not in storage.list_keys("v/")
    assert storage.list_keys("v/") == sorted(keys)


def test_delete_prefix_batches_delete_objects(aws, tmp_path):
    sizes: list[int] = []
    aws.meta.events.register(
        "provide-client-params.s3.DeleteObjects",
        lambda params, **_: sizes.append(len(params["Delete"]["Objects"])),
    )
    src = write(tmp_path / "f", b"x")
    storage = S3Storage(aws, BUCKET, delete_batch_size=3)
    for i in range(7):
        storage.put_file(src, f"tenants/1/videos/9/hls/1/seg_{i}.ts")
    storage.put_file(src, "tenants/1/videos/90/keep.ts")
    assert storage.delete_prefix("tenants/1/videos/9/") == 7
    assert sizes == [3, 3, 1]
    assert storage.list_keys("") == ["tenants/1/videos/90/keep.ts"]


def test_listing_follows_every_page(aws, tmp_path):
    src = write(tmp_path / "f", b"x")
    storage = S3Storage(aws, BUCKET)
    pages: list[int] = []

    def two_per_page(params, **_):
        params["MaxKeys"] = 2  # S3 pages at 1000; two keeps the test small
        pages.append(1)

    aws.meta.events.register("provide-client-params.s3.ListObjectsV2", two_per_page)
    for i in range(5):
        storage.put_file(src, f"p/{i}")
    storage.put_file(src, "q/other")
    assert storage.list_keys("p/") == [f"p/{i}" for i in range(5)]
    assert len(pages) == 3


def test_missing_key_is_file_not_found(aws, tmp_path):
    storage = S3Storage(aws, BUCKET)
    with pytest.raises(FileNotFoundError, match=f"s3://{BUCKET}/nope.mp4"):
        storage.get_file("nope.mp4", tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        storage.size("nope.mp4")
    assert storage.exists("nope.mp4") is False
    assert not (tmp_path / "x").exists()


def test_missing_bucket_is_a_storage_error(aws, tmp_path):
    storage = S3Storage(aws, "no-such-bucket")
    src = write(tmp_path / "f", b"x")
    calls = [
        lambda: storage.put_file(src, "a/b.mp4"),
        lambda: storage.get_file("a/b.mp4", tmp_path / "x"),
        lambda: storage.size("a/b.mp4"),
        lambda: storage.exists("a/b.mp4"),
        lambda: storage.list_keys("a/"),
        lambda: storage.delete_prefix("a/"),
        lambda: storage.put_directory(hls_tree(tmp_path / "t"), "a"),
    ]
    for call in calls:
        with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist"):
            call()


def test_unreachable_endpoint_is_a_storage_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2),
    )
    storage = S3Storage(client, BUCKET)
    with pytest.raises(StorageError, match=f"s3://{BUCKET}/a.mp4 failed: Could not connect"):
        storage.put_file(write(tmp_path / "f", b"x"), "a.mp4")
    with pytest.raises(StorageError, match="Could not connect"):
        storage.size("a.mp4")


@pytest.mark.parametrize("key", ["", "/abs", "../x", "a//b", "a\\b"])
def test_hostile_keys_are_rejected_before_any_request(aws, tmp_path, key):
    storage = S3Storage(aws, BUCKET)
    with pytest.raises(ValueError, match="storage key"):
        storage.put_file(write(tmp_path / "f", b"x"), key)
    assert "Contents" not in aws.list_objects_v2(Bucket=BUCKET)


def test_factory_s3_url_honours_endpoint_and_region(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    storage = storage_from_url(
        "s3://media-bucket/prod/videos", region="eu-west-1", endpoint_url="http://127.0.0.1:4566"
    )
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("media-bucket", "prod/videos")
    assert storage.client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert storage.client.meta.region_name == "eu-west-1"
    assert storage.locate("a/b.ts") == "s3://media-bucket/prod/videos/a/b.ts"


def test_factory_s3_round_trip_through_moto(aws, tmp_path):
    storage = storage_from_url(f"s3://{BUCKET}/root")
    storage.put_file(write(tmp_path / "f", b"hello"), "k/v.mp4")
    assert aws.get_object(Bucket=BUCKET, Key="root/k/v.mp4")["Body"].read() == b"hello"


def test_download_into_a_full_work_folder_is_storage_full(aws, tmp_path):
    from src.application.ports.storage import StorageFull
    from tests.filesystems import tmpfs

    storage = S3Storage(aws, BUCKET)
    storage.put_file(write(tmp_path / "in.mp4", bytes(300 * 1024)), "src/lecture.mp4")
    with tmpfs(tmp_path / "work", "64k") as work:
        # Before: the OSError from the local write escaped the adapter as it was.
        with pytest.raises(StorageFull, match="No space left on device"):
            storage.get_file("src/lecture.mp4", work / "job" / "lecture.mp4")
        assert not [p for p in work.rglob("*") if p.is_file()]
