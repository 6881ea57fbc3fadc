"""Forwarded headers are honoured only from the configured load balancers: rotating
X-Forwarded-For from anywhere else cannot choose the address the throttle (and the logs) see."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.servers import web
from tests.support import TestDatabase, bearer


def _statuses(base: str) -> list[int]:
    """Three failed authentications, each claiming another client address."""
    return [
        httpx.get(
            f"{base}/api/v1/me",
            headers={**bearer(f"prk_guess-{n}"), "X-Forwarded-For": f"203.0.113.{n}"},
            timeout=10,
        ).status_code
        for n in range(1, 4)
    ]


def test_forwarded_headers_are_ignored_unless_the_peer_is_a_trusted_proxy(
    database: TestDatabase, tmp_path: Path
) -> None:
    strict = {"PRORATA_RATE_LIMIT_AUTH_FAILURES": "2/minute"}
    trusted = {**strict, "PRORATA_TRUSTED_PROXIES": "127.0.0.1"}
    with web(database, tmp_path / "untrusted.log", **strict) as base:
        # The peer (127.0.0.1) is no proxy of ours: all three come from one address.
        assert _statuses(base) == [401, 401, 429]
    with web(database, tmp_path / "trusted.log", **trusted) as base:
        # Behind our load balancer: three clients, one failure each.
        assert _statuses(base) == [401, 401, 401]
