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
import logging
import math
import time
from typing import cast

import redis.exceptions
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.storage import storage_from_string

from prorata.config import Settings
from prorata.platform import errors

log = logging.getLogger(__name__)

# What a counters' store that cannot be reached raises (redis-py's errors, a refused socket).
STORAGE_ERRORS = (redis.exceptions.RedisError, OSError)
REDIS_TIMEOUT_SECONDS = 0.5


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
        self._unreachable = False

    async def hit(self, policy: str, key: str) -> Status | None:
        """Count one request against `policy` for `key`; raise 429 when over the limit.

        None when the counters' storage (Redis) cannot be reached: the request goes on
        unlimited (fails open, said once per outage in the log). Rate limits protect capacity;
        what protects data — authentication, tenancy, idempotency — does not depend on them,
        and a cache outage must not take fund operations down with it."""
        item = self.items[policy]
        counter = item.key_for(policy, key)
        try:
            count = await self.storage.incr(counter, item.get_expiry())
            status = await self._status(policy, counter, count)
        except STORAGE_ERRORS as exc:
            self._storage_lost(exc)
            return None
        self._storage_back()
        if count > item.amount:
            raise _too_many(status)
        return status

    def _storage_lost(self, exc: BaseException) -> None:
        if not self._unreachable:
            self._unreachable = True
            log.warning(
                "rate limit storage unreachable: requests are not limited until it is back",
                extra={"error": type(exc).__name__},
            )

    def _storage_back(self) -> None:
        if self._unreachable:
            self._unreachable = False
            log.info("rate limit storage reachable again: limits apply")

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
        # Bounded waits: a Redis host that drops packets must not hold every request.
        return cast(
            Storage,
            storage_from_string(
                f"async+{url}",
                implementation="redispy",
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            ),
        )
    if scheme == "memory":
        return cast(Storage, storage_from_string(f"async+{url}"))
    raise ValueError(f"unsupported rate limit storage {scheme!r}: use memory:// or redis://")
