"""Changing who may watch a video: its playback policy, and a new playback id (rotation)."""

from __future__ import annotations

from src.application.direct_upload import owned_video
from src.application.domain import PlaybackPolicy, new_playback_id
from src.application.ports.video_repository import VideoRecord, VideoRepository
from src.application.video_errors import VideoNotFound


class PlaybackCommands:
    def __init__(self, repository: VideoRepository) -> None:
        self.repository = repository

    def set_policy(self, tenant_id: int, video_id: int, policy: PlaybackPolicy) -> VideoRecord:
        owned_video(self.repository, tenant_id, video_id)
        if not self.repository.set_playback(video_id, policy=PlaybackPolicy(policy)):
            raise VideoNotFound(f"there is no video {video_id}")
        return owned_video(self.repository, tenant_id, video_id)

    def rotate(self, tenant_id: int, video_id: int) -> VideoRecord:
        """A new playback id: every URL and token made for the old one stops working."""
        owned_video(self.repository, tenant_id, video_id)
        if not self.repository.set_playback(video_id, playback_id=new_playback_id()):
            raise VideoNotFound(f"there is no video {video_id}")
        return owned_video(self.repository, tenant_id, video_id)
