"""The Storage contract (tests/contracts/storage.py) run against the fake and LocalStorage,
plus LocalStorage's own promises: keys never leave the root, writes are atomic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from src.application.ports.fakes import InMemoryStorage
from src.infrastructure.storage import local_storage
from src.infrastructure.storage.factory import storage_from_url
from src.infrastructure.storage.local_storage import LocalStorage
from tests.contracts.storage import StorageContract, hls_tree, write


class TestInMemoryStorageContract(StorageContract):
    @pytest.fixture
    def storage(self):
        return InMemoryStorage()


class TestLocalStorageContract(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path):
        return LocalStorage(tmp_path / "media")


HOSTILE_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/./b",
    "a//b",
    "a\\..\\b",
    "a/b\x00c",
    "..",
    "a/..",
]


@pytest.fixture
def local(tmp_path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_keys_that_could_escape_the_root_are_rejected(local, tmp_path, key):
    src = write(tmp_path / "payload", b"evil")
    with pytest.raises(ValueError, match="storage key"):
        local.put_file(src, key)
    for call in (local.exists, local.size, local.locate):
        with pytest.raises(ValueError, match="storage key"):
            call(key)
    with pytest.raises(ValueError, match="storage key"):
        local.get_file(key, tmp_path / "got")
    assert [p.name for p in tmp_path.rglob("*")] == ["payload"]


@pytest.mark.parametrize("prefix", ["/", "/etc", "../", "a/../../", "a//", "a\\b/"])
def test_prefixes_that_could_escape_are_rejected(local, prefix):
    with pytest.raises(ValueError, match="storage key"):
        local.list_keys(prefix)
    with pytest.raises(ValueError, match="storage key"):
        local.delete_prefix(prefix)


def test_symlinked_folder_inside_root_cannot_lead_out(local, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (local.root / "tenants").mkdir(parents=True)
    (local.root / "tenants" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the storage root"):
        local.put_file(write(tmp_path / "p", b"x"), "tenants/link/evil")
    assert list(outside.iterdir()) == []


def test_locate_is_the_absolute_path_under_root(local, tmp_path):
    local.put_file(write(tmp_path / "in", b"data"), "tenants/1/videos/2/source/a.mp4")
    where = Path(local.locate("tenants/1/videos/2/source/a.mp4"))
    assert where.is_absolute()
    assert where == (tmp_path / "media" / "tenants/1/videos/2/source/a.mp4").resolve()
    assert where.read_bytes() == b"data"


def test_failed_write_keeps_the_old_object_and_leaves_no_temporary(tiny_fs, tmp_path):
    from src.application.ports.storage import StorageFull

    local = LocalStorage(tiny_fs)  # a real 64 KB disk: the new content cannot fit
    key = "tenants/1/videos/2/source/a.mp4"
    local.put_file(write(tmp_path / "old", b"old content"), key)
    with pytest.raises(StorageFull, match="No space left"):
        local.put_file(write(tmp_path / "new", os.urandom(256 * 1024)), key)
    assert Path(local.locate(key)).read_bytes() == b"old content"
    assert os.listdir(Path(local.locate(key)).parent) == ["a.mp4"]


def test_stray_temporary_files_are_not_objects(local, tmp_path):
    local.put_file(write(tmp_path / "in", b"x"), "p/done")
    write(local.root / "p" / f"{local_storage.TEMP_PREFIX}crashed", b"half")
    assert local.list_keys("p/") == ["p/done"]
    assert local.delete_prefix("p/") == 1
    assert not (local.root / "p").exists()


def test_written_files_are_world_readable(local, tmp_path):
    local.put_file(write(tmp_path / "in", b"x"), "a/b.ts")
    assert os.stat(local.locate("a/b.ts")).st_mode & 0o777 == 0o644


def test_put_directory_skips_symlinks(local, tmp_path):
    secret = write(tmp_path / "secret.txt", b"not yours")
    tree = hls_tree(tmp_path / "out")
    (tree / "360p" / "leak.ts").symlink_to(secret)
    (tree / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    keys = local.put_directory(tree, "v/hls")
    assert "v/hls/360p/leak.ts" not in keys
    assert not any(k.startswith("v/hls/linked_dir") for k in keys)
    assert len(keys) == 5


def test_delete_prefix_prunes_empty_folders_only(local, tmp_path):
    src = write(tmp_path / "in", b"x")
    local.put_file(src, "tenants/1/videos/1/hls/1/a.ts")
    local.put_file(src, "tenants/1/videos/2/source/a.mp4")
    local.delete_prefix("tenants/1/videos/1/")
    assert not (local.root / "tenants/1/videos/1").exists()
    assert (local.root / "tenants/1/videos/2/source/a.mp4").exists()
    assert local.root.is_dir()


def test_factory_file_url_creates_the_folder(tmp_path):
    root = tmp_path / "new" / "media"
    storage = storage_from_url(f"file://{root}")
    assert isinstance(storage, LocalStorage)
    assert root.is_dir()
    assert storage.locate("a/b") == str(root.resolve() / "a" / "b")


@pytest.mark.parametrize(
    "url",
    ["file://relative/path", "file:relative", "ftp://host/x", "", "/abs/without/scheme", "s3://"],
)
def test_factory_rejects_other_urls_naming_the_variable(url):
    with pytest.raises(ValueError, match="VIDEO_STORAGE_URL"):
        storage_from_url(url)


def test_factory_reports_a_root_that_cannot_be_created(tmp_path):
    blocker = write(tmp_path / "file", b"x")
    with pytest.raises(ValueError, match="VIDEO_STORAGE_URL folder"):
        storage_from_url(f"file://{blocker}/media")


# -- a full disk (a real 64 KB tmpfs) ---------------------------------------------------------
@pytest.fixture
def tiny_fs(tmp_path):
    from tests.filesystems import tmpfs

    with tmpfs(tmp_path / "tiny", "64k") as path:
        yield path


def test_storing_on_a_full_disk_is_storage_full_and_leaves_nothing(tiny_fs, tmp_path):
    from src.application.ports.storage import StorageFull

    storage = LocalStorage(tiny_fs)
    big = write(tmp_path / "lecture.mp4", os.urandom(256 * 1024))
    # Before: a bare OSError (ENOSPC) escaped the adapter and the job ended INTERNAL_ERROR.
    with pytest.raises(StorageFull, match="No space left on device"):
        storage.put_file(big, "tenants/1/videos/2/hls/3/360p/seg_00000.ts")
    assert storage.list_keys("") == []
    assert [p for p in tiny_fs.rglob("*") if p.is_file()] == []  # no half-written temp file


def test_copying_to_a_full_work_folder_is_storage_full(tiny_fs, tmp_path):
    from src.application.ports.storage import StorageFull

    storage = LocalStorage(tmp_path / "media")
    storage.put_file(write(tmp_path / "in.mp4", os.urandom(256 * 1024)), "src/lecture.mp4")
    with pytest.raises(StorageFull, match="No space left on device"):
        storage.get_file("src/lecture.mp4", tiny_fs / "job" / "lecture.mp4")
    assert [p for p in tiny_fs.rglob("*") if p.is_file()] == []
