"""The API as an academy's developer uses it: an SDK generated with `openapi-python-client`
from the schema `make serve` serves, installed in a virtualenv of its own, runs a producer's
whole flow (tests/e2e/generated_client_flow.py) against the real API, worker, reconcile and
webhook dispatcher. Generation must be clean: any warning fails the test."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.test_api_pipeline import create_key, run_pipeline, serve
from tests.media import make_clip
from tests.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FLOW = Path(__file__).with_name("generated_client_flow.py")
PACKAGE = "academy_video_api_client"
BIN = Path(sys.executable).parent
PLACEHOLDER_SECRET = "whsec_" + base64.b64encode(bytes(32)).decode()
LOOPBACK_WEBHOOKS = {"VIDEO_WEBHOOK_ALLOW_INSECURE": "1", "VIDEO_WEBHOOK_ALLOW_PRIVATE": "1"}


class Sdk:
    """Generates the client once per schema and session, into a virtualenv of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[bytes, Path] = {}

    def python_for(self, schema: bytes) -> Path:
        if schema not in self.built:
            self.built[schema] = self._build(schema, self.root / f"sdk-{len(self.built)}")
        return self.built[schema]

    def _build(self, schema: bytes, folder: Path) -> Path:
        folder.mkdir()
        (folder / "openapi.json").write_bytes(schema)
        generated = subprocess.run(
            [
                str(BIN / "openapi-python-client"),
                "generate",
                "--path",
                str(folder / "openapi.json"),
                "--output-path",
                str(folder / "client"),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            # The generator formats its output with ruff, found on PATH.
            env={"PATH": f"{BIN}:/usr/bin:/bin"},
            check=False,
        )
        output = generated.stdout + generated.stderr
        assert generated.returncode == 0, output
        assert "warning" not in output.lower(), output
        venv = folder / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        installed = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", str(folder / "client")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert installed.returncode == 0, installed.stderr[-3000:]
        return venv / "bin" / "python"


@pytest.fixture(scope="session")
def sdk(tmp_path_factory) -> Sdk:
    return Sdk(tmp_path_factory.mktemp("generated-sdk"))


# Generating and installing the SDK (once a session) plus three encodes on a loaded machine.
@pytest.mark.timeout(600)
def test_a_generated_client_runs_the_whole_producer_flow(spawn, sdk, tmp_path):
    _web, base = serve(spawn, **LOOPBACK_WEBHOOKS)
    run_pipeline(spawn)
    spawn(
        "webhooks",
        [sys.executable, "manage.py", "deliver_webhooks", "--loop", "0.2"],
        **LOOPBACK_WEBHOOKS,
    )
    key = create_key(spawn, "academy-sdk")
    with urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=30) as response:
        schema = response.read()
    python = sdk.python_for(schema)
    source = make_clip(tmp_path / "lecture.mp4", 320, 180, seconds=2.0)
    # The endpoint's secret is only known once the SDK created it: verified afterwards.
    receiver = WebhookReceiver(secret=PLACEHOLDER_SECRET).start()
    try:
        flow = subprocess.run(
            [str(python), str(FLOW), base, key, str(source), receiver.url],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert flow.returncode == 0, flow.stdout + flow.stderr
        report = json.loads(flow.stdout.strip().splitlines()[-1])
        received = receiver.wait_for(1)
    finally:
        receiver.stop()

    # The upload URL worked as given: signed, no API key in it.
    assert "/source?signature=" in report["upload_url"] and key not in report["upload_url"]
    # Signed by default: the published URLs carry a token; public ones do not.
    assert report["master_playlist_url"].startswith(f"{base}/media/")
    assert "?token=" in report["master_playlist_url"]
    assert "?token=" in report["token_master_playlist_url"]
    assert report["public_master_playlist_url"].startswith(f"{base}/media/")
    assert "token=" not in report["public_master_playlist_url"]
    assert report["renditions"] and all(r["bandwidth"] > 0 for r in report["renditions"])
    assert report["live_events_url"].startswith(f"{base}/api/v1/videos/")
    assert report["retried_error_code"] in ("PROBE_FAILED", "UNSUPPORTED_MEDIA")
    assert report["refused_retry"]["code"] == "INVALID_STATE"
    assert "never uploaded" in report["refused_retry"]["detail"]
    assert report["not_found"] == {"code": "NOT_FOUND", "type": "/api/v1/problems/NOT_FOUND"}
    assert "video.ready" in report["delivery_event_types"]
    # Every webhook the receiver got verifies with the secret the SDK was handed.
    verifier = Webhook(report["webhook_secret"])
    for delivery in received:
        verifier.verify(delivery.body, delivery.headers)
