"""Sending one webhook request: signature, SSRF checks at delivery time, no redirects, timeouts.

The URL's host is resolved when the request is sent (not when the webhook was registered: DNS
can change), every address it resolves to must be public, and the connection goes to the very
address that was checked (the URL's host stays in `Host` and TLS SNI), so a second, different
DNS answer cannot slip in between check and connect.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Mapping

import httpx

SIGNATURE_HEADER = "Prorata-Signature"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services, named for clearer refusals (all are non-public addresses anyway).
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """The URL points somewhere we never send requests: permanent, not retried."""


class Failed(Exception):
    """The receiver did not accept the delivery (network error, timeout, non-2xx): retried."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver recomputes it with the
    secret and refuses old timestamps (replays)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def valid_port(port: int) -> bool:
    return 0 < port < 65536


def valid_host(host: str) -> bool:
    """An IP address, or a DNS name the resolver takes: labels of 1 to 63 characters, at most
    253 in all (otherwise the resolver's IDNA step raises, outside any network error)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return len(host) <= 253 and all(0 < len(label) < 64 for label in labels)
    return True


def refusal(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why we would not connect to `ip`, or None when it is a public address."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return refusal(embedded, allow_loopback=allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    # Site-local IPv6 (fec0::/10) is deprecated but still routed privately where in use, and
    # `is_private` leaves it out.
    if ip.is_private or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return "a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "not a public address"
    return None


async def resolve(host: str, port: int, *, allow_loopback: bool) -> IPAddress:
    """The address to connect to: every address `host` resolves to must be allowed."""
    try:
        async with asyncio.timeout(5):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError) as exc:
        raise Failed(f"cannot resolve the webhook host: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise Failed("the webhook host resolves to no address")
    for address in addresses:
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise Refused(f"the webhook host resolves to {reason} ({address}): refused")
    return addresses[0]


async def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    allow_loopback: bool,
    timeout_seconds: float,
) -> int:
    """POST `body` to `url`; return the response status (2xx), else raise `Failed`/`Refused`."""
    target = httpx.URL(url)
    if target.scheme not in {"http", "https"} or not target.host:
        raise Refused("only http and https URLs with a host are called")
    if not valid_host(target.host):
        raise Refused(f"{target.host!r} is not a valid host name")
    port = target.port if target.port is not None else (443 if target.scheme == "https" else 80)
    if not valid_port(port):
        # Out of range, the resolver wraps it (99999 → 34463) and the connect fails with an
        # error no retry can fix: refuse it plainly (registration refuses it too).
        raise Refused(f"port {port} is not a TCP port")
    address = await resolve(target.host, port, allow_loopback=allow_loopback)
    pinned = target.copy_with(host=str(address))
    request_headers = {**headers, "Host": target.netloc.decode("ascii")}
    try:
        async with (
            asyncio.timeout(timeout_seconds * 2),
            httpx.AsyncClient(
                timeout=timeout_seconds, follow_redirects=False, trust_env=False
            ) as client,
            client.stream(
                "POST",
                pinned,
                content=body,
                headers=request_headers,
                extensions={"sni_hostname": target.host},
            ) as response,
        ):
            status = response.status_code
    except (httpx.HTTPError, TimeoutError) as exc:
        raise Failed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    if not 200 <= status < 300:
        # A redirect is an answer like any other non-2xx: it is never followed.
        raise Failed(f"the receiver answered {status}", status=status)
    return status
