"""Upload one clip through the HTTP API and wait for it to be READY (the container smoke
tests): python3 scripts/smoke_upload.py API_URL API_KEY CLIP [--timeout SECONDS]

Standard library only: it runs on the host, outside the project's virtualenv. Prints the
video's id on stdout when it is READY; exits 1 with its last status (and error) when it ended
otherwise or the time ran out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
import uuid

FINAL = {"READY", "FAILED", "CANCELED"}
POLL_SECONDS = 1.0


def call(api: str, key: str, method: str, path: str, body: bytes | None = None, **headers):
    if not api.startswith(("http://", "https://")):
        raise SystemExit(f"API_URL must be http(s), got {api!r}")
    request = urllib.request.Request(f"{api}{path}", data=body, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {key}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - checked above
        data = response.read()
    return json.loads(data) if data else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("api")
    parser.add_argument("key")
    parser.add_argument("clip")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    trace = f"container-smoke-{uuid.uuid4().hex[:8]}"
    video = call(
        args.api,
        args.key,
        "POST",
        "/videos",
        json.dumps({"title": "container smoke"}).encode(),
        Content_Type="application/json",
        X_Request_ID=trace,
    )
    vid = video["id"]
    with open(args.clip, "rb") as clip:
        call(
            args.api,
            args.key,
            "PUT",
            f"/videos/{vid}/source",
            clip.read(),
            Content_Type="application/octet-stream",
            X_Request_ID=trace,
        )
    call(args.api, args.key, "POST", f"/videos/{vid}/upload-complete", X_Request_ID=trace)
    deadline = time.monotonic() + args.timeout
    status = ""
    while time.monotonic() < deadline:
        video = call(args.api, args.key, "GET", f"/videos/{vid}")
        status = video["status"]
        if status in FINAL:
            break
        time.sleep(POLL_SECONDS)
    if status != "READY":
        sys.stderr.write(
            f"video {vid} ended {status or 'unknown'} after {args.timeout:g} s at most:"
            f" {json.dumps(video.get('error') or video.get('last_error') or {})}\n"
        )
        return 1
    print(vid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
