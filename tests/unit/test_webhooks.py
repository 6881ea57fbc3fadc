"""Webhooks without a database: SSRF refusals of addresses and URLs, the signature."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from prorata.webhooks import delivery


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("fec0::1", "private"),  # site-local: deprecated, still private where used
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "private"),  # "this network"
        ("100.64.0.1", "not a public"),
        ("224.0.0.1", "not a public"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a01:203", "private"),  # NAT64 around 10.1.2.3
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    refusal = delivery.refusal(ipaddress.ip_address(address), allow_loopback=False)
    assert refusal is not None
    assert reason in refusal


def test_public_addresses_pass_and_loopback_only_when_allowed() -> None:
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"):
        assert delivery.refusal(ipaddress.ip_address(address), allow_loopback=False) is None
    loopback = ipaddress.ip_address("127.0.0.1")
    assert delivery.refusal(loopback, allow_loopback=True) is None
    private = ipaddress.ip_address("10.0.0.1")
    assert delivery.refusal(private, allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:99999/hook", "port 99999"),
        ("http://hooks..example.com/hook", "not a valid host name"),
        ("http://" + "a" * 64 + ".example.com/hook", "not a valid host name"),
    ],
)
async def test_an_unusable_url_is_refused_not_crashed_on(url: str, reason: str) -> None:
    """A URL stored before registration checked it: the attempt ends as a recorded refusal,
    not an exception the delivery record never hears of."""
    with pytest.raises(delivery.Refused, match=reason):
        await delivery.post(
            url,
            body=b"{}",
            headers={},
            allow_loopback=True,
            timeout_seconds=2,
        )


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(delivery.Refused, match="loopback"):
        await delivery.resolve("localhost", 80, allow_loopback=False)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = delivery.sign("whsec_test", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
