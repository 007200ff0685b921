"""Private-by-default playback end to end: `make serve` (uvicorn), a real worker, and clients
that only have URLs. Every bad request gets the same refusal; ffmpeg plays every rendition
from the master URL alone, with our token and with one the academy signed itself; a public
video needs none; and no token reaches any log line, uvicorn's own included."""

from __future__ import annotations

import json
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from websockets.sync.client import connect

from bench.harness import wait_until
from tests.e2e.test_api_pipeline import Client, create_key, decode_over_http, run_pipeline, serve
from tests.media import make_clip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def upload(client: Client, source, title: str) -> dict:
    status, created = client.json("POST", "/api/v1/videos", {"title": title})
    assert status == 201 and created["playback_policy"] == "signed", created
    client.call(
        "PUT",
        created["upload"]["url"],
        data=source.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert client.call("POST", created["upload"]["complete_url"])[0] == 202
    return created


def refusal(client: Client, url: str) -> tuple:
    status, headers, raw = client.call("GET", url, headers={"Authorization": ""})
    body = json.loads(raw)
    assert headers["Content-Type"] == "application/problem+json", raw
    body.pop("trace_id")
    return status, body


def renditions_in(url: str) -> int:
    """How many video streams a player finds from the master URL alone."""
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-protocol_whitelist",
            "http,tcp,hls",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "json",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    return sum(s["codec_type"] == "video" for s in json.loads(probe.stdout)["streams"])


def test_signed_playback_end_to_end(spawn, tmp_path):
    web, base = serve(spawn)
    worker, _reconcile = run_pipeline(spawn)
    client = Client(base, create_key(spawn, "academy-playback"))
    # 854x480: a 480p and a 360p rendition, so "every rendition" means more than one.
    source = make_clip(tmp_path / "lecture.mp4", 854, 480, seconds=2.0)
    first = upload(client, source, "Week 1")
    second = upload(client, source, "Week 2")
    video = client.wait_ready(first["id"])
    other = client.wait_ready(second["id"])
    master = video["assets"]["master_playlist_url"]
    bare = master.split("?")[0]
    assert bare == f"{base}/media/{video['playback_id']}/master.m3u8"
    token = parse_qs(urlsplit(master).query)["token"][0]

    # With the token: every rendition decodes from the master URL, nothing else given.
    assert renditions_in(master) == len(video["renditions"]) >= 2
    decode_over_http(master)

    # An academy's own key: a JWT minted here with PyJWT plays, until the key is revoked.
    status, key = client.json("POST", "/api/v1/signing-keys")
    assert status == 201
    claims = {"sub": video["playback_id"], "aud": "v", "exp": int(time.time()) + 600}
    local = jwt.encode(claims, key["private_key"], algorithm="RS256", headers={"kid": key["id"]})
    decode_over_http(f"{bare}?token={local}")
    assert client.call("DELETE", f"/api/v1/signing-keys/{key['id']}")[0] == 204
    revoked = refusal(client, f"{bare}?token={local}")

    expired_claims = {**claims, "exp": int(time.time()) - 120}
    status, key2 = client.json("POST", "/api/v1/signing-keys")
    expired = jwt.encode(
        expired_claims, key2["private_key"], algorithm="RS256", headers={"kid": key2["id"]}
    )
    head, payload, signature = token.split(".")
    other_token = parse_qs(urlsplit(other["assets"]["master_playlist_url"]).query)["token"][0]
    cases = {
        "no token": bare,
        "tampered": f"{bare}?token={head}.{payload}.{signature[::-1]}",
        "expired": f"{bare}?token={expired}",
        "revoked key": None,
        "another video's token": f"{bare}?token={other_token}",
    }
    answers = {name: refusal(client, url) for name, url in cases.items() if url}
    answers["revoked key"] = revoked
    status, rotated = client.json("POST", f"/api/v1/videos/{video['id']}/playback-id/rotate")
    assert status == 200 and rotated["playback_id"] != video["playback_id"]
    answers["after rotate"] = refusal(client, master)
    distinct = {json.dumps(a, sort_keys=True) for a in answers.values()}
    assert len(distinct) == 1, answers
    assert next(iter(answers.values()))[0] == 403
    decode_over_http(rotated["assets"]["master_playlist_url"])  # the new URL plays

    # A public video plays with no token at all.
    status, public = client.json(
        "PATCH", f"/api/v1/videos/{other['id']}", {"playback_policy": "public"}
    )
    assert status == 200 and public["assets"]["master_playlist_url"] == (
        f"{base}/media/{other['playback_id']}/master.m3u8"
    )
    decode_over_http(public["assets"]["master_playlist_url"])

    # Follow a video live with its progress token: uvicorn logs the WebSocket's path itself.
    status, followed = client.json("GET", f"/api/v1/videos/{video['id']}")
    progress_token = followed["progress_token"]
    with connect(f"{followed['live']['websocket_url']}?token={progress_token}") as ws:
        assert json.loads(ws.recv())["type"] == "connected"

    # No token, signature or progress token in any line the server or the worker wrote.
    def written() -> str:
        return "".join(p.read_text() for log in (web, worker) for p in (log.path, log.err_path))

    accepted = wait_until(
        lambda: [line for line in written().splitlines() if "[accepted]" in line],
        30,
        interval=0.1,
        what="uvicorn to log the WebSocket it accepted",
    )
    assert "/ws/v1/videos/" in accepted[0] and "token=***" in accepted[0]
    text = written()
    for secret in (token, local, other_token, progress_token, key["private_key"][40:80]):
        assert secret not in text
    assert web.problems() == [] and worker.problems() == []
