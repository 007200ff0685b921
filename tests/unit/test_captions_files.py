"""Caption files and the master's subtitle group: pure functions, no service."""

from __future__ import annotations

import pytest

from academy.config import DEVELOPMENT_ENV, ConfigError, load_config
from src.application.caption_job import caption_prefix
from src.application.domain import CaptionKind, CaptionStatus, Cue
from src.application.hls_subtitles import renditions_for, with_subtitles
from src.application.ports.captions import CaptionFileInvalid, CaptionTrackRecord
from src.application.storage_keys import job_output_prefix
from src.infrastructure.captions.webvtt_files import parse_captions, write_rendition

MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:3\n"
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",URI="audio/index.m3u8"\n\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=900000,AUDIO="audio"\n360p/index.m3u8\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=400000,AUDIO="audio"\n240p/index.m3u8\n'
)
# A claim's output folder in the opaque layout (media/{video}/{claim}).
PREFIX = job_output_prefix("5e" * 32, 3)


def track(
    i: int, kind: CaptionKind, language: str, status=CaptionStatus.READY
) -> CaptionTrackRecord:
    return CaptionTrackRecord(
        id=i,
        video_id=2,
        tenant_id=1,
        kind=kind,
        status=status,
        language=language,
        playlist_key=f"{PREFIX}/captions/t{i}/index.m3u8",
    )


def test_the_master_lists_ready_tracks_an_upload_before_the_automatic_one():
    tracks = [
        track(1, CaptionKind.AUTO, "en"),
        track(2, CaptionKind.UPLOADED, "en"),
        track(3, CaptionKind.AUTO, "fr", CaptionStatus.PROCESSING),
        track(4, CaptionKind.UPLOADED, "de"),
    ]
    text = with_subtitles(MASTER, renditions_for(f"{PREFIX}/master.m3u8", tracks))
    media = [line for line in text.splitlines() if "TYPE=SUBTITLES" in line]
    assert [m.split('URI="')[1] for m in media] == [
        'captions/t4/index.m3u8"',
        'captions/t2/index.m3u8"',
    ]
    assert all(
        line.endswith(',SUBTITLES="subs"') for line in text.splitlines() if "STREAM-INF" in line
    )
    # Idempotent, and with no track the group is gone again.
    assert with_subtitles(text, renditions_for(f"{PREFIX}/master.m3u8", tracks)) == text
    assert with_subtitles(text, []) == MASTER


def test_a_label_cannot_break_out_of_its_quoted_attribute():
    hostile = CaptionTrackRecord(
        id=9,
        video_id=2,
        tenant_id=1,
        kind=CaptionKind.UPLOADED,
        status=CaptionStatus.READY,
        language="en",
        label='x",URI="evil\n#EXT-X-ENDLIST',
        playlist_key=f"{PREFIX}/c/i.m3u8",
    )
    text = with_subtitles(MASTER, renditions_for(f"{PREFIX}/master.m3u8", [hostile]))
    assert "#EXT-X-ENDLIST" not in text.splitlines()
    assert text.count('URI="') == 2  # the audio's and the track's own


def test_srt_and_webvtt_read_into_the_same_cues():
    srt = (
        b"1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\nthere\r\n\r\n"
        b"2\r\n00:00:03,000 --> 00:00:04,000\r\nBye\r\n"
    )
    vtt = (
        b"\xef\xbb\xbfWEBVTT\n\nNOTE a comment\n\n00:01.000 --> 00:02.500\nHello\nthere\n\n"
        b"00:03.000 --> 00:04.000\nBye\n"
    )
    expected = [Cue(1.0, 2.5, "Hello\nthere"), Cue(3.0, 4.0, "Bye")]
    assert parse_captions(srt) == expected
    assert parse_captions(vtt) == expected


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"", 1),
        (b"\x00\x01binary", 0),
        (b"WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nBack\n", 3),
        (b"1\n00:00:01,000 --> 00:00:02,000\nA\n\n2\n00:00:01,500 --> 00:00:03,000\nB\n", 5),
        (b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\n", 3),
    ],
)
def test_a_broken_file_names_the_line_at_fault(data, line):
    with pytest.raises(CaptionFileInvalid) as caught:
        parse_captions(data)
    assert caught.value.line == line


def test_the_rendition_covers_the_video_and_maps_onto_its_timeline(tmp_path):
    cues = [Cue(0.5, 6.0, "spans a boundary"), Cue(13.0, 14.0, "late")]
    write_rendition(cues, tmp_path, duration=14.2, segment_seconds=6, mpegts=126000)
    playlist = (tmp_path / "index.m3u8").read_text()
    assert playlist.count("#EXTINF:") == 3 and "#EXTINF:2.200," in playlist
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
    first = (tmp_path / "fileSequence0.webvtt").read_text()
    assert first.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000")
    assert "spans a boundary" in first
    assert "spans a boundary" not in (tmp_path / "fileSequence1.webvtt").read_text()
    assert "late" in (tmp_path / "fileSequence2.webvtt").read_text()
    assert (tmp_path / "captions.vtt").read_text().startswith("WEBVTT")


def test_caption_settings_name_the_bad_variable():
    config = load_config({**DEVELOPMENT_ENV, "VIDEO_CAPTIONS_LANGUAGE": "pt-BR"})
    assert config.captions.enabled and config.captions.language == "pt-BR"
    assert load_config(DEVELOPMENT_ENV).captions.language == ""  # detect
    assert not load_config({**DEVELOPMENT_ENV, "VIDEO_CAPTIONS": "off"}).captions.enabled
    for name, value in (("VIDEO_CAPTIONS", "maybe"), ("VIDEO_CAPTIONS_LANGUAGE", "English!")):
        with pytest.raises(ConfigError, match=name):
            load_config({**DEVELOPMENT_ENV, name: value})


def test_caption_files_lie_in_the_published_folder_and_name_no_id():
    """Served as the video's other files, and behind a CDN under the same opaque folder."""
    prefix = caption_prefix(f"{PREFIX}/master.m3u8", "auto-4")
    assert prefix == f"{PREFIX}/captions/auto-4"
    assert prefix.startswith("media/") and "tenants" not in prefix and "/hls/" not in prefix
