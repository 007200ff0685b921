"""Playback: tokens (PyJWT), CloudFront signed URLs, and the HLS playlist rewriter."""
