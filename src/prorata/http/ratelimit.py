"""Rate limits (the `limits` library) and the RateLimit header fields on every API response.

Tiers: `auth_failures` per client IP (strict; counted only on failed authentication),
`public` per client IP for unauthenticated routes, `api` per API key, and `heavy` per
organisation for imports and rendering. Storage is in memory by default and Redis in
production, so every web replica shares the same counters.

Headers follow draft-ietf-httpapi-ratelimit-headers (structured fields):
`RateLimit-Policy: "api";q=600;w=60` and `RateLimit: "api";r=599;t=42`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import cast

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.storage import storage_from_string

from prorata.config import Settings
from prorata.platform import errors


@dataclasses.dataclass(frozen=True)
class Status:
    """One policy's state after a request, rendered into the response headers."""

    policy: str
    quota: int
    window: int
    remaining: int
    reset_in: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.quota};w={self.window}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_in}',
        }


class TooManyRequests(errors.Problem):
    status = 429
    slug = "rate-limited"


class RateLimiter:
    """Fixed windows (the `limits` fixed-window strategy's rules: a counter per window that
    expires with it), read and counted with as few storage calls as the headers allow: two per
    call, where the strategy's hit-then-stats took three. Every call is a round trip to Redis
    in production, on every request."""

    def __init__(self, settings: Settings) -> None:
        self.storage: Storage = _storage(settings.rate_limit_storage.get_secret_value())
        self.items: dict[str, RateLimitItem] = {
            "auth_failures": parse(settings.rate_limit_auth_failures),
            "public": parse(settings.rate_limit_public),
            "api": parse(settings.rate_limit_api),
            "heavy": parse(settings.rate_limit_heavy),
        }

    async def hit(self, policy: str, key: str) -> Status:
        """Count one request against `policy` for `key`; raise 429 when over the limit."""
        item = self.items[policy]
        counter = item.key_for(policy, key)
        count = await self.storage.incr(counter, item.get_expiry())
        status = await self._status(policy, counter, count)
        if count > item.amount:
            raise _too_many(status)
        return status

    async def check(self, policy: str, key: str) -> Status:
        """Refuse with 429 if `key` is already over `policy`, without counting a request."""
        item = self.items[policy]
        counter = item.key_for(policy, key)
        status = await self._status(policy, counter, await self.storage.get(counter))
        if status.remaining <= 0:
            raise _too_many(status)
        return status

    async def _status(self, policy: str, counter: str, count: int) -> Status:
        item = self.items[policy]
        reset_at = await self.storage.get_expiry(counter)
        return Status(
            policy=policy,
            quota=item.amount,
            window=item.get_expiry(),
            remaining=max(item.amount - count, 0),
            reset_in=max(math.ceil(reset_at - time.time()), 0),
        )


def _too_many(status: Status) -> TooManyRequests:
    retry_after = max(status.reset_in, 1)
    return TooManyRequests(
        f"rate limit {status.policy!r} exceeded: {status.quota} requests per {status.window} s",
        headers={**status.headers(), "Retry-After": str(retry_after)},
    )


def _storage(url: str) -> Storage:
    scheme = url.split("://", 1)[0]
    if scheme in {"redis", "rediss"}:
        return cast(Storage, storage_from_string(f"async+{url}", implementation="redispy"))
    if scheme == "memory":
        return cast(Storage, storage_from_string(f"async+{url}"))
    raise ValueError(f"unsupported rate limit storage {scheme!r}: use memory:// or redis://")
