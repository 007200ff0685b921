"""Playback tokens (PyJWT), the playlist rewriter, and tokens kept out of every log line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import time

import jwt
import pytest

from src.application.domain.playback import is_playback_id, new_playback_id
from src.application.domain.redaction import redact_url_credentials
from src.infrastructure.logging import RedactingFilter
from src.infrastructure.playback import playlists
from src.infrastructure.playback.tokens import (
    SigningKey,
    TokenRefused,
    mint,
    new_rsa_key_pair,
    server_key,
    verify,
)

KEY = server_key("a secret")
PID = new_playback_id()


def no_keys(_kid: str) -> SigningKey | None:
    return None


def test_playback_ids_are_long_random_and_url_safe():
    ids = {new_playback_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_playback_id(i) for i in ids)
    assert not is_playback_id("1") and not is_playback_id("../" + PID[3:])


def test_a_minted_token_opens_its_playback_id_and_audience_only():
    token = mint(PID, "v", 60, KEY, viewer="student-1").token
    grant = verify(token, PID, "v", KEY, no_keys)
    assert (grant.viewer, grant.key_id) == ("student-1", None)
    with pytest.raises(TokenRefused):
        verify(token, PID, "t", KEY, no_keys)
    with pytest.raises(TokenRefused):
        verify(token, new_playback_id(), "v", KEY, no_keys)
    with pytest.raises(TokenRefused):
        verify(token, PID, "v", server_key("another secret"), no_keys)


def test_expiry_allows_a_little_clock_skew_and_no_more():
    late = mint(PID, "v", 60, KEY, now=time.time() - 65).token  # 5 s past exp
    assert verify(late, PID, "v", KEY, no_keys)
    expired = mint(PID, "v", 60, KEY, now=time.time() - 120).token
    with pytest.raises(TokenRefused):
        verify(expired, PID, "v", KEY, no_keys)


def test_signing_key_tokens_are_rs256_only():
    private_pem, public_pem = new_rsa_key_pair()
    keys = {"sk_1": SigningKey(tenant_id=7, public_key_pem=public_pem)}
    claims = {"sub": PID, "aud": "v", "exp": int(time.time()) + 60}
    good = jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": "sk_1"})
    assert verify(good, PID, "v", KEY, keys.get).key_tenant_id == 7
    # Algorithm confusion: an HMAC keyed with the (public) key's PEM must not pass.
    forged = _hs256(claims, {"alg": "HS256", "typ": "JWT", "kid": "sk_1"}, public_pem.encode())
    with pytest.raises(TokenRefused):
        verify(forged, PID, "v", KEY, keys.get)
    # An RS256 token without a kid is checked as ours (HS256) and fails.
    bare = jwt.encode(claims, private_pem, algorithm="RS256")
    with pytest.raises(TokenRefused):
        verify(bare, PID, "v", KEY, keys.get)
    with pytest.raises(TokenRefused):
        verify(good, PID, "v", KEY, no_keys)  # revoked: the lookup finds nothing
    with pytest.raises(TokenRefused):
        verify("x" * 5000, PID, "v", KEY, keys.get)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict, header: dict, key: bytes) -> str:
    """A JWT signed by hand (PyJWT itself refuses to HMAC with a PEM key)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_tokens_need_exp_sub_and_aud():
    for claims in ({"sub": PID, "aud": "v"}, {"aud": "v", "exp": 2**31}, {"sub": PID}):
        with pytest.raises(TokenRefused):
            verify(jwt.encode(claims, KEY, algorithm="HS256"), PID, "v", KEY, no_keys)


MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",URI="subs/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,SUBTITLES="subs"
360p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="360p/iframes.m3u8"
https://elsewhere.example/x.m3u8
../../other/master.m3u8
"""


def test_the_rewriter_reaches_every_uri_and_leaves_foreign_ones():
    seen = []

    def uri_for(written: str, resolved: str) -> str:
        seen.append(resolved)
        return f"{written}?token=T"

    out = playlists.rewrite(MASTER, "master.m3u8", uri_for)
    assert seen == ["subs/en.m3u8", "360p/index.m3u8", "360p/iframes.m3u8"]
    assert 'URI="subs/en.m3u8?token=T"' in out and "\n360p/index.m3u8?token=T\n" in out
    assert 'URI="360p/iframes.m3u8?token=T"' in out
    assert "\nhttps://elsewhere.example/x.m3u8\n" in out  # absolute: left as it is
    assert "\n../../other/master.m3u8\n" in out  # outside the output: never resolved


def test_segment_uris_resolve_from_their_playlist_folder():
    media = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6,\nseg_1.m4s\n#EXT-X-ENDLIST\n'
    seen = []
    playlists.rewrite(media, "720p/index.m3u8", lambda w, r: seen.append(r) or w)
    assert seen == ["720p/init.mp4", "720p/seg_1.m4s"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /media/x/master.m3u8?token=eyJ.a.b HTTP/1.1",
            "GET /media/x/master.m3u8?token=*** HTTP/1.1",
        ),
        (
            '"WebSocket /ws/v1/videos/3?token=abc:def" [accepted]',
            '"WebSocket /ws/v1/videos/3?token=***" [accepted]',
        ),
        (
            "seg.ts?Policy=p&Signature=s&Key-Pair-Id=K",
            "seg.ts?Policy=***&Signature=***&Key-Pair-Id=K",
        ),
        ("a?x=1&token=t", "a?x=1&token=***"),
        ("token=plain words", "token=plain words"),  # not a query: left alone
    ],
)
def test_secret_query_values_are_redacted(text, expected):
    assert redact_url_credentials(text) == expected


def test_uvicorn_style_records_lose_the_token_before_any_handler():
    logger = logging.getLogger("uvicorn.error.test-playback")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter())
    logger.propagate = False
    try:
        logger.warning(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/ws/v1/videos/1?token=SECRET"
        )
    finally:
        logger.removeHandler(handler)
    assert "SECRET" not in stream.getvalue() and "token=***" in stream.getvalue()


def test_a_checked_token_is_still_refused_once_expired_or_its_key_revoked():
    token = mint(new_playback_id(), "v", 60, KEY).token
    pid = jwt.decode(token, options={"verify_signature": False})["sub"]
    assert verify(token, pid, "v", KEY, no_keys)  # checked once, remembered
    assert verify(token, pid, "v", KEY, no_keys, now=time.time() + 60)  # within the leeway
    with pytest.raises(TokenRefused):
        verify(token, pid, "v", KEY, no_keys, now=time.time() + 71)
    with pytest.raises(TokenRefused):  # remembered for this audience only
        verify(token, pid, "t", KEY, no_keys)
    private_pem, public_pem = new_rsa_key_pair()
    keys = {"sk_2": SigningKey(tenant_id=7, public_key_pem=public_pem)}
    claims = {"sub": pid, "aud": "v", "exp": int(time.time()) + 60}
    theirs = jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": "sk_2"})
    assert verify(theirs, pid, "v", KEY, keys.get)
    del keys["sk_2"]  # revoked
    with pytest.raises(TokenRefused):
        verify(theirs, pid, "v", KEY, keys.get)
