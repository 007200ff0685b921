"""Storage keys: no user-supplied string becomes a path component unsanitised."""

from __future__ import annotations

import re

import pytest

from src.application.storage_keys import (
    MAX_NAME,
    job_output_prefix,
    safe_filename,
    source_key,
    video_prefix,
)
from src.infrastructure.storage.keys import check_key

SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lecture.mp4", "lecture.mp4"),
        ("../../etc/passwd", "passwd"),
        ("a/b\\c", "c"),
        ("C:\\Users\\me\\talk.mov", "talk.mov"),
        ("..", "upload"),
        (".", "upload"),
        ("", "upload"),
        ("/", "upload"),
        (".hidden.mp4", "hidden.mp4"),
        ("my lecture (final).mp4", "my_lecture_final_.mp4"),
        ("cours d'été.mp4", "cours_d_t_.mp4"),
        ("講義.mp4", "_.mp4"),
        ("a\x00b.mp4", "a_b.mp4"),
        ("name\n.mp4", "name_.mp4"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "a/b\\c",
        "..",
        "",
        "....",
        "..\\..\\windows",
        "%2e%2e%2fetc",
        "\u202egnp.exe",
        "x" * 10_000 + ".mp4",
        "/" * 300,
        "ü" * 500,
    ],
)
def test_every_hostile_name_becomes_one_safe_segment(name):
    cleaned = safe_filename(name)
    assert SAFE.match(cleaned), cleaned
    assert 1 <= len(cleaned) <= MAX_NAME
    assert "/" not in cleaned and "\\" not in cleaned and cleaned not in {".", ".."}
    # And it is a valid storage key segment for every adapter.
    check_key(source_key(1, 2, name))


def test_very_long_name_keeps_its_extension():
    cleaned = safe_filename("x" * 10_000 + ".mp4")
    assert len(cleaned) == MAX_NAME
    assert cleaned.endswith(".mp4")


def test_key_layout_matches_the_architecture():
    assert video_prefix(7, 42) == "tenants/7/videos/42"
    assert source_key(7, 42, "../../etc/passwd") == "tenants/7/videos/42/source/passwd"
    assert job_output_prefix(7, 42, 3) == "tenants/7/videos/42/hls/3"


@pytest.mark.parametrize("bad", [0, -1, True, "7", 1.0, None])
def test_ids_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match="positive integers"):
        source_key(bad, 1, "a.mp4")
    with pytest.raises(ValueError, match="positive integers"):
        source_key(1, bad, "a.mp4")
