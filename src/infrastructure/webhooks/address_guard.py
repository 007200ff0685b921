"""SSRF guard for webhook URLs: https only, and only public addresses, checked after DNS.

A URL is checked twice. When it is registered: its form (https, or http with
VIDEO_WEBHOOK_ALLOW_INSECURE=1; a host that is an IP literal or a valid DNS name; no
credentials; a literal IP must be public). When it is sent to: the host is resolved, every
address must be public (not loopback, private, link-local — the cloud metadata address
169.254.169.254 included —, shared, multicast, reserved or unspecified; an IPv6 address that
carries an IPv4 one — mapped, compatible, NAT64, 6to4, Teredo — only if that one is public
too), and the connection goes to the address that was checked, so a DNS
answer that changes between the check and the connect (rebinding) cannot redirect it.
VIDEO_WEBHOOK_ALLOW_PRIVATE=1 lifts the address rule (tests and local development).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

# The cloud metadata services (AWS, GCP, Azure: link-local; AWS's IPv6 one: unique local).
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


# IPv6 ranges that carry an IPv4 address, and where it sits: a private IPv4 hidden in one
# of them reaches the private host (through a NAT64 gateway, a 6to4 or Teredo relay, or a
# stack that still honours the deprecated IPv4-compatible form). Python's `is_global` looks
# at the IPv6 range only, and calls several of these global.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the low 32 bits
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: operator-chosen layout
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 (deprecated): the low 32 bits

# One DNS label (RFC 1123): letters, digits and inner hyphens, 1-63 characters.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_HOST_NAME = 253


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


def _check_host_name(host: str) -> None:
    """`host` (lower-cased by urlsplit) is an IP literal or a valid DNS name. Odd spellings
    of addresses ("2130706433", "0x7f.1") are names to nothing but the resolver, which reads
    them as 127.0.0.1: a name whose last label is all digits is refused."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeWebhookUrl(f"the host {host[:80]!r} is not a valid DNS name") from None
    labels = ascii_host.removesuffix(".").split(".")
    if (
        len(ascii_host) > MAX_HOST_NAME
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
        or re.fullmatch(r"0x[0-9a-f]*", labels[-1])
    ):
        raise UnsafeWebhookUrl(f"the host {host[:80]!r} is not a valid DNS name")


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
    _check_host_name(parts.hostname)
    return parts


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in NAT64_WELL_KNOWN or (address in IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # the relay server and the (obfuscated) client
    return found


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address not in METADATA_ADDRESSES and address.is_global and not address.is_multicast


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str = "") -> None:
    carried: list[ipaddress.IPv4Address] = []
    if isinstance(address, ipaddress.IPv6Address):
        carried = embedded_ipv4(address)
    if (
        not _public(address)
        or not all(_public(v4) for v4 in carried)
        or (isinstance(address, ipaddress.IPv6Address) and address in NAT64_LOCAL_USE)
    ):
        where = f"{host!r} resolves to {address}" if host else f"{address}"
        raise UnsafeWebhookUrl(
            f"{where}, which is not a public address (loopback, private, link-local and "
            "metadata addresses are refused)"
        )
