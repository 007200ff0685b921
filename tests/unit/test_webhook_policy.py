"""The webhook retry policy and the SSRF guard, without a network."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest

from src.application.deliver_webhooks import settlement_for
from src.application.domain.webhooks import (
    MAX_ATTEMPTS,
    RETRY_AFTER_MAX,
    RETRY_SCHEDULE,
    DeliveryStatus,
    VideoEventType,
    classify,
    next_attempt,
    parse_retry_after,
    schedule_span,
)
from src.application.ports.webhooks import AttemptOutcome, DueDelivery
from src.infrastructure.webhooks.address_guard import UnsafeWebhookUrl, check_url, resolve
from src.infrastructure.webhooks.http_transport import signed_headers

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def due(attempt: int) -> DueDelivery:
    return DueDelivery(
        1, 1, attempt, 1, "https://x.test/", "whsec_AAAA", "msg_1", "video.ready", 1, 1, "{}"
    )


def test_schedule_is_standard_webhooks_about_three_days():
    assert RETRY_SCHEDULE[:3] == (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30))
    assert MAX_ATTEMPTS == 10
    assert timedelta(days=3) < schedule_span() < timedelta(days=3.5)


@pytest.mark.parametrize("rand, factor", [(0.0, 0.8), (0.5, 1.0), (1.0, 1.2)])
def test_jitter_spreads_each_delay_by_twenty_percent(rand, factor):
    step = next_attempt(2, NOW, rand=lambda: rand)
    assert step.retry_at == NOW + timedelta(minutes=5) * factor


def test_the_last_attempt_gives_up():
    assert next_attempt(MAX_ATTEMPTS - 1, NOW, rand=lambda: 0.5).retry_at == NOW + timedelta(
        hours=24
    )
    assert next_attempt(MAX_ATTEMPTS, NOW).gives_up


def test_retry_after_pushes_later_never_earlier_and_is_capped():
    assert next_attempt(1, NOW, timedelta(seconds=1), lambda: 0.5).retry_at == NOW + timedelta(
        seconds=5
    )
    assert next_attempt(1, NOW, timedelta(minutes=2), lambda: 0.5).retry_at == NOW + timedelta(
        minutes=2
    )
    assert next_attempt(1, NOW, timedelta(days=9), lambda: 0.5).retry_at == NOW + RETRY_AFTER_MAX


def test_retry_after_header_forms():
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Mon, 05 Jan 2026 12:10:00 GMT", NOW) == timedelta(minutes=10)
    assert parse_retry_after("Mon, 05 Jan 2026 11:00:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
    "code, result",
    [
        (200, "delivered"),
        (204, "delivered"),
        (299, "delivered"),
        (301, "retry"),
        (307, "retry"),
        (400, "retry"),
        (410, "gone"),
        (429, "retry"),
        (500, "retry"),
        (None, "retry"),
    ],
)
def test_only_2xx_is_success(code, result):
    assert classify(code) == result


def test_settlements():
    delivered = settlement_for(due(1), AttemptOutcome(status_code=200), NOW)[1]
    assert delivered.status == DeliveryStatus.DELIVERED and not delivered.flag_endpoint
    gone = settlement_for(due(1), AttemptOutcome(status_code=410), NOW)[1]
    assert gone.status == DeliveryStatus.FAILED and "410" in gone.disable_endpoint
    retry = settlement_for(due(1), AttemptOutcome(error="timed out"), NOW, lambda: 0.5)[1]
    assert (retry.status, retry.next_attempt_at) == (
        DeliveryStatus.PENDING,
        NOW + timedelta(seconds=5),
    )
    last = settlement_for(due(MAX_ATTEMPTS), AttemptOutcome(status_code=500), NOW)[1]
    assert last.status == DeliveryStatus.FAILED and last.flag_endpoint


def test_event_types_parse_names_each_once():
    assert VideoEventType.parse(["video.ready", "video.ready", "video.failed"]) == [
        VideoEventType.READY,
        VideoEventType.FAILED,
    ]
    with pytest.raises(ValueError, match=r"unknown event type 'video\.exploded'"):
        VideoEventType.parse(["video.exploded"])


def test_signature_is_v1_hmac_of_id_timestamp_body():
    import base64
    import hashlib
    import hmac

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    headers = signed_headers("msg_1", secret, '{"a":1}', 1_700_000_000.7)
    assert headers["webhook-timestamp"] == "1700000000"
    expected = hmac.new(b"k" * 32, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


# -- SSRF guard ---------------------------------------------------------------------------------
STRICT = {"allow_insecure": False, "allow_private": False}


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://hooks.example.com/x", "https://"),
        ("ftp://hooks.example.com/x", "https://"),
        ("https:///nohost", "name a host"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com:99999/", "cannot be parsed"),
        ("https://127.0.0.1/", "not a public address"),
        ("https://10.1.2.3/", "not a public address"),
        ("https://192.168.0.10/", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://[::1]/", "not a public address"),
        ("https://[::ffff:127.0.0.1]/", "not a public address"),
        ("https://[fd00:ec2::254]/", "not a public address"),
        ("https://100.64.0.1/", "not a public address"),
        ("https://0.0.0.0/", "not a public address"),
        # IPv6 forms that carry a private IPv4 address (Python calls several of them global).
        ("https://[64:ff9b::a9fe:a9fe]/h", "not a public address"),  # NAT64: 169.254.169.254
        ("https://[64:ff9b::7f00:1]/", "not a public address"),  # NAT64: 127.0.0.1
        ("https://[64:ff9b:1::a00:1]/", "not a public address"),  # NAT64 local use
        ("https://[2002:7f00:1::]/", "not a public address"),  # 6to4: 127.0.0.1
        ("https://[2002:a9fe:a9fe::1]/", "not a public address"),  # 6to4: metadata
        ("https://[::127.0.0.1]/", "not a public address"),  # IPv4-compatible
        ("https://[::10.0.0.1]/", "not a public address"),
        ("https://[::ffff:10.0.0.1]/", "not a public address"),  # IPv4-mapped
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "not a public address"),  # Teredo
        # Names that are no DNS names (the resolver reads some of them as 127.0.0.1).
        ("https://2130706433/", "not a valid DNS name"),
        ("https://0x7f.1/", "not a valid DNS name"),
        ("https://127.1/", "not a valid DNS name"),
        ("https://hooks_.example.com/", "not a valid DNS name"),
        ("https://-hooks.example.com/", "not a valid DNS name"),
        ("https://hooks..example.com/", "not a valid DNS name"),
        ("https://" + "a" * 64 + ".example.com/", "not a valid DNS name"),
        ("https://hooks.exa%20mple.com/", "not a valid DNS name"),
    ],
)
def test_registration_refuses(url, reason):
    with pytest.raises(UnsafeWebhookUrl, match=reason):
        check_url(url, **STRICT)


def test_registration_accepts_public_https_and_the_dev_switches():
    check_url("https://hooks.example.com/video?x=1", **STRICT)
    check_url("https://93.184.216.34/", **STRICT)
    check_url("https://[64:ff9b::5db8:d822]/", **STRICT)  # NAT64 of a public address
    check_url("https://[2002:5db8:d822::1]/", **STRICT)  # 6to4 of a public address
    check_url("https://[2606:4700::1111]/", **STRICT)
    check_url("https://hooks.bücher.example/", **STRICT)  # an internationalised name
    check_url("https://hooks.example.com./in", **STRICT)  # the root's dot
    check_url("http://127.0.0.1:8080/", allow_insecure=True, allow_private=True)
    with pytest.raises(UnsafeWebhookUrl):
        check_url("http://127.0.0.1:8080/", allow_insecure=True, allow_private=False)


def _fake_dns(monkeypatch, addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_send_time_check_follows_dns_and_pins_the_checked_address(monkeypatch):
    _fake_dns(monkeypatch, ["93.184.216.34"])
    dest = resolve("https://hooks.example.com/in?a=1", **STRICT)
    assert (dest.host, dest.port, dest.path, dest.address) == (
        "hooks.example.com",
        443,
        "/in?a=1",
        "93.184.216.34",
    )
    # A name that (now) resolves to a private or metadata address is refused, even if only
    # one of its answers is.
    for answers in (
        ["10.0.0.5"],
        ["93.184.216.34", "169.254.169.254"],
        ["127.0.0.1"],
        ["64:ff9b::a9fe:a9fe"],
        ["2002:7f00:1::"],
    ):
        _fake_dns(monkeypatch, answers)
        with pytest.raises(UnsafeWebhookUrl, match="resolves to"):
            resolve("https://hooks.example.com/", **STRICT)


def test_unresolvable_host_is_refused_with_its_name(monkeypatch):
    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(UnsafeWebhookUrl, match=r"'nowhere\.example' does not resolve"):
        resolve("https://nowhere.example/", **STRICT)
