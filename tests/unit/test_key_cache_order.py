"""`KeyCache` keeps the keys in use: when full, it drops the one used longest ago."""

import uuid

from prorata.http.auth import KeyCache
from prorata.http.tenancy import Principal, Role


def _principal() -> Principal:
    return Principal(
        org_id=uuid.uuid4(), user_id=uuid.uuid4(), role=Role.admin, credential_id=uuid.uuid4()
    )


def test_a_full_cache_drops_the_key_used_longest_ago_not_the_one_kept_first() -> None:
    cache = KeyCache(size=2)
    busy, idle = _principal(), _principal()
    cache.keep("busy", busy, 1)
    cache.keep("idle", idle, 1)
    assert cache.get("busy") == (busy, 1)  # kept first, but used since

    cache.keep("new", _principal(), 1)

    assert cache.get("busy") == (busy, 1)
    assert cache.get("idle") is None
    assert cache.get("new") is not None


def test_keeping_a_key_again_replaces_its_entry_without_dropping_another() -> None:
    cache = KeyCache(size=2)
    first, second, again = _principal(), _principal(), _principal()
    cache.keep("a", first, 1)
    cache.keep("b", second, 1)

    cache.keep("a", again, 2)  # verified again after the epoch moved

    assert cache.get("a") == (again, 2)
    assert cache.get("b") == (second, 1)
