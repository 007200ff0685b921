"""SSRF guard for webhook URLs: https only, and only public addresses, checked after DNS.

A URL is checked twice. When it is registered: its form (https, or http with
VIDEO_WEBHOOK_ALLOW_INSECURE=1; a host; no credentials; a literal IP must be public). When it
is sent to: the host is resolved, every address must be public (not loopback, private,
link-local — the cloud metadata address 169.254.169.254 included —, shared, multicast,
reserved or unspecified), and the connection goes to the address that was checked, so a DNS
answer that changes between the check and the connect (rebinding) cannot redirect it.
VIDEO_WEBHOOK_ALLOW_PRIVATE=1 lifts the address rule (tests and local development).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

# The cloud metadata services (AWS, GCP, Azure: link-local; AWS's IPv6 one: unique local).
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class UnsafeWebhookUrl(ValueError):
    """A URL the guard refuses; the message says why (it is shown to the tenant)."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # the name, for SNI, the certificate check and the Host header
    port: int
    path: str  # path and query, as sent in the request line
    address: str  # the checked IP the connection goes to


def check_url(url: str, *, allow_insecure: bool, allow_private: bool) -> None:
    """The registration check (no DNS): UnsafeWebhookUrl naming the problem."""
    parts = _split(url, allow_insecure)
    try:
        literal = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        return
    if not allow_private:
        _check_address(literal)


def resolve(url: str, *, allow_insecure: bool, allow_private: bool) -> Destination:
    """The send-time check: resolve the host and pick a checked address to connect to."""
    parts = _split(url, allow_insecure)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeWebhookUrl(f"the host {host!r} does not resolve ({exc.strerror})") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not allow_private:
        for address in addresses:  # every answer: a mixed set may be a rebinding attempt
            _check_address(address, host)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Destination(parts.scheme, host, port, path, str(addresses[0]))


def _split(url: str, allow_insecure: bool):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        raise UnsafeWebhookUrl("the URL cannot be parsed") from None
    schemes = {"https", "http"} if allow_insecure else {"https"}
    if parts.scheme not in schemes:
        hint = "" if allow_insecure else " (http needs VIDEO_WEBHOOK_ALLOW_INSECURE=1)"
        raise UnsafeWebhookUrl(f"the URL must start with https://{hint}")
    if not parts.hostname:
        raise UnsafeWebhookUrl("the URL must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("the URL must not carry credentials (user:password@)")
    if parts.fragment:
        raise UnsafeWebhookUrl("the URL must not have a #fragment")
    return parts


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str = "") -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES or not address.is_global or address.is_multicast:
        where = f"{host!r} resolves to {address}" if host else f"{address}"
        raise UnsafeWebhookUrl(
            f"{where}, which is not a public address (loopback, private, link-local and "
            "metadata addresses are refused)"
        )
