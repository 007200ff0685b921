"""The Storage contract: what every Storage adapter promises. Subclasses (one per adapter,
in the integration tests) provide the `storage` fixture."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from src.application.ports.storage import StreamTooLarge
from src.application.storage_keys import source_key, video_prefix

ALL_BYTES = bytes(range(256)) * 64


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def hls_tree(root: Path) -> Path:
    write(root / "master.m3u8", b"#EXTM3U\n")
    write(root / "360p" / "index.m3u8", b"#EXTM3U\n#EXT-X-ENDLIST\n")
    write(root / "360p" / "seg_000.ts", b"\x47" * 188)
    write(root / "360p" / "seg_001.ts", b"\x47" * 376)
    write(root / "thumbnail.jpg", b"\xff\xd8\xff\xd9")
    return root


class StorageContract:
    """What every Storage adapter promises; subclasses provide the `storage` fixture."""

    def test_round_trip_is_byte_exact(self, storage, tmp_path):
        key = source_key(7, 42, "lecture.mp4")
        storage.put_file(write(tmp_path / "in.bin", ALL_BYTES), key)
        storage.get_file(key, tmp_path / "out" / "deep" / "copy.bin")
        assert (tmp_path / "out" / "deep" / "copy.bin").read_bytes() == ALL_BYTES
        assert storage.exists(key)
        assert storage.size(key) == len(ALL_BYTES)

    def test_put_stream_stores_up_to_the_limit(self, storage):
        key = source_key(7, 43, "streamed.mp4")
        assert storage.put_stream(io.BytesIO(ALL_BYTES), key, max_bytes=len(ALL_BYTES)) == len(
            ALL_BYTES
        )
        assert storage.size(key) == len(ALL_BYTES)
        assert b"".join(storage.read_range(key, 10, 19)) == ALL_BYTES[10:20]
        assert b"".join(storage.read_range(key, 0, len(ALL_BYTES) - 1)) == ALL_BYTES

    def test_put_stream_beyond_the_limit_stores_nothing(self, storage):
        key = source_key(7, 44, "too-big.mp4")
        with pytest.raises(StreamTooLarge):
            storage.put_stream(io.BytesIO(ALL_BYTES), key, max_bytes=len(ALL_BYTES) - 1)
        assert not storage.exists(key)
        assert storage.list_keys("tenants/7/videos/44/") == []

    def test_read_range_of_a_missing_key_is_file_not_found(self, storage):
        with pytest.raises(FileNotFoundError):
            list(storage.read_range("no/such/key", 0, 9))

    def test_put_overwrites(self, storage, tmp_path):
        storage.put_file(write(tmp_path / "a", b"first version"), "k/obj")
        storage.put_file(write(tmp_path / "b", b"second"), "k/obj")
        storage.get_file("k/obj", tmp_path / "got")
        assert (tmp_path / "got").read_bytes() == b"second"
        assert storage.size("k/obj") == 6

    def test_missing_key(self, storage, tmp_path):
        assert not storage.exists("tenants/1/videos/1/nothing.mp4")
        with pytest.raises(FileNotFoundError):
            storage.get_file("tenants/1/videos/1/nothing.mp4", tmp_path / "x")
        with pytest.raises(FileNotFoundError):
            storage.size("tenants/1/videos/1/nothing.mp4")
        assert not (tmp_path / "x").exists()

    def test_put_directory_list_and_delete_prefix(self, storage, tmp_path):
        tree = hls_tree(tmp_path / "out")
        prefix = video_prefix(3, 2) + "/hls/1"
        keys = storage.put_directory(tree, prefix)
        expected = sorted(
            f"{prefix}/{name}"
            for name in (
                "master.m3u8",
                "360p/index.m3u8",
                "360p/seg_000.ts",
                "360p/seg_001.ts",
                "thumbnail.jpg",
            )
        )
        assert sorted(keys) == expected
        # A neighbour whose id shares the digits must survive deleting video 2.
        storage.put_file(tree / "master.m3u8", video_prefix(3, 20) + "/hls/1/master.m3u8")
        assert storage.list_keys(video_prefix(3, 2) + "/") == expected
        assert storage.list_keys(prefix + "/360p/seg_") == expected[1:3]
        assert storage.size(f"{prefix}/360p/seg_001.ts") == 376

        assert storage.delete_prefix(video_prefix(3, 2) + "/") == 5
        assert storage.list_keys(video_prefix(3, 2) + "/") == []
        assert storage.list_keys("tenants/3/") == [video_prefix(3, 20) + "/hls/1/master.m3u8"]
        assert storage.delete_prefix("tenants/999/") == 0

    def test_list_keys_is_sorted_and_prefix_scoped(self, storage, tmp_path):
        src = write(tmp_path / "f", b"x")
        for key in ("b/2", "a/1", "b/1", "bb/1"):
            storage.put_file(src, key)
        assert storage.list_keys("b/") == ["b/1", "b/2"]
        assert storage.list_keys("b") == ["b/1", "b/2", "bb/1"]
        assert storage.list_keys("") == ["a/1", "b/1", "b/2", "bb/1"]
        assert storage.list_keys("nothing/") == []

    def test_newest_write_is_the_latest_object_below_a_prefix(self, storage, tmp_path):
        import time

        before = time.time() - 5  # S3 keeps whole seconds; moto and clocks may differ a little
        storage.put_file(write(tmp_path / "f", b"x"), "w/1/a")
        newest = storage.newest_write("w/1/")
        assert newest is not None and before <= newest <= time.time() + 5
        assert storage.newest_write("w/2/") is None
