"""What the HTTP API does with caption tracks: list a video's, add or replace an uploaded one,
delete one. Every call looks the video up through the tenant (another tenant's video is not
found), and every change ends with the master playlist rewritten.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import BinaryIO

import structlog

from src.application.caption_job import caption_prefix, segment_start, upload_name
from src.application.domain import CaptionKind, CaptionStatus, Cue, ErrorCode, VideoStatus
from src.application.ports.captions import (
    MAX_LABEL_LENGTH,
    CaptionFileInvalid,
    CaptionRepository,
    CaptionTrackRecord,
    NewUploadedTrack,
    SubtitleFiles,
)
from src.application.ports.storage import Storage
from src.application.ports.video_repository import VideoRecord, VideoRepository
from src.application.subtitle_master import SubtitleMaster
from src.application.video_errors import (
    InvalidVideoRequest,
    InvalidVideoState,
    SourceTooLarge,
    VideoNotFound,
    VideoRequestError,
)

LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class CaptionFileRejected(VideoRequestError):
    """The uploaded file is not usable captions (the message names the line)."""

    code = ErrorCode.CAPTION_INVALID


class CaptionTracks:
    def __init__(
        self,
        captions: CaptionRepository,
        videos: VideoRepository,
        storage: Storage,
        files: SubtitleFiles,
        master: SubtitleMaster,
        *,
        max_upload_bytes: int,
    ) -> None:
        self.captions = captions
        self.videos = videos
        self.storage = storage
        self.files = files
        self.master = master
        self.max_upload_bytes = max_upload_bytes

    def _video(self, tenant_id: int, video_id: int) -> VideoRecord:
        video = self.videos.get(video_id)
        if video is None or video.tenant_id != tenant_id:
            raise VideoNotFound(f"there is no video {video_id}")
        return video

    def list(self, tenant_id: int, video_id: int) -> list[CaptionTrackRecord]:
        self._video(tenant_id, video_id)
        return self.captions.list_tracks(video_id)

    def upload(
        self, tenant_id: int, video_id: int, stream: BinaryIO, language: str, label: str
    ) -> CaptionTrackRecord:
        """Add the language's uploaded track (replacing the one it had), READY at once.

        Nothing is stored unless the whole file parsed: a broken, oversized or non-UTF-8 file
        leaves storage and the rows as they were.
        """
        video = self._video(tenant_id, video_id)
        if video.status != VideoStatus.READY or not video.hls_key:
            raise InvalidVideoState(
                f"video {video_id} is {video.status}: captions are added once it is READY"
            )
        if len(label) > MAX_LABEL_LENGTH:
            raise InvalidVideoRequest(f"label is longer than {MAX_LABEL_LENGTH} characters")
        data = stream.read(self.max_upload_bytes + 1)
        if len(data) > self.max_upload_bytes:
            raise SourceTooLarge(
                f"the caption file is more than VIDEO_CAPTIONS_MAX_UPLOAD_BYTES "
                f"({self.max_upload_bytes} bytes)",
                ErrorCode.PAYLOAD_TOO_LARGE,
            )
        try:
            cues = self.files.parse(data)
        except CaptionFileInvalid as exc:
            raise CaptionFileRejected(f"the caption file cannot be used: {exc}") from None
        prefix = caption_prefix(video.hls_key, upload_name(language))
        with tempfile.TemporaryDirectory(prefix="academy-captions-") as tmp:
            folder = Path(tmp) / "captions"
            self.files.write_rendition(
                cues,
                folder,
                duration=video.duration_seconds or cues[-1].end,
                start_seconds=segment_start(video) or 0.0,
            )
            self.storage.put_directory(folder, prefix)
        try:
            track, replaced = self.captions.put_uploaded(
                NewUploadedTrack(
                    video_id=video_id,
                    tenant_id=tenant_id,
                    language=language,
                    label=label,
                    vtt_key=f"{prefix}/{self.files.whole_file}",
                    playlist_key=f"{prefix}/{self.files.playlist}",
                    cues=cues,
                )
            )
        except Exception:
            self.master.discard(prefix)  # no row names these files
            raise
        self.master.refresh(video_id)
        if replaced:  # the old track's folder, once the master no longer lists it
            self.master.discard(replaced[0].rsplit("/", 1)[0])
        structlog.get_logger().info(
            "CAPTIONS_UPLOADED",
            video_id=video_id,
            track_id=track.id,
            language=language,
            cues=len(cues),
            replaced=bool(replaced),
        )
        return track

    def transcript(
        self, tenant_id: int, video_id: int, language: str | None = None
    ) -> tuple[VideoRecord, CaptionTrackRecord, list[Cue]]:
        """The cues of the video's default READY track, or of its track in `language`."""
        video = self._video(tenant_id, video_id)
        tracks = [t for t in self.captions.list_tracks(video_id) if is_ready(t)]
        if language is not None:
            tracks = [t for t in tracks if t.language == language]
        track = default_track(tracks)
        if track is None:
            where = f" in {language}" if language else ""
            raise VideoNotFound(f"video {video_id} has no READY caption track{where}")
        return video, track, self.captions.cues(track.id)

    def delete(self, tenant_id: int, video_id: int, track_id: int) -> CaptionTrackRecord:
        self._video(tenant_id, video_id)
        track = self.captions.get_track(track_id)
        if track is None or track.video_id != video_id:
            raise VideoNotFound(f"video {video_id} has no caption track {track_id}")
        removed = self.captions.delete_track(track_id)
        if removed is None:
            raise VideoNotFound(f"video {video_id} has no caption track {track_id}")
        self.master.refresh(video_id)
        if removed.vtt_key:
            self.master.discard(removed.vtt_key.rsplit("/", 1)[0])
        structlog.get_logger().info(
            "CAPTIONS_DELETED", video_id=video_id, track_id=track_id, kind=removed.kind
        )
        return removed


def default_track(tracks: list[CaptionTrackRecord]) -> CaptionTrackRecord | None:
    """The track `subtitle_url` names: the first the master lists (an upload before an
    automatic one, then by language)."""
    from src.application.hls_subtitles import listed_tracks

    listed = listed_tracks(tracks)
    uploaded = [t for t in listed if t.kind == CaptionKind.UPLOADED]
    return (uploaded or listed or [None])[0]


def is_ready(track: CaptionTrackRecord) -> bool:
    return track.status == CaptionStatus.READY
