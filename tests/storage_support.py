"""Round trips through an object store, for tests."""

from __future__ import annotations

import hashlib

from prorata.platform import storage

MiB = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def round_trip(store: storage.BlobStore, key: str, data: bytes) -> None:
    stored = await store.put(key, data, content_type="text/csv")
    assert (stored.size, stored.sha256) == (len(data), sha256_hex(data))
    assert await store.read(key) == data
    assert await store.size(key) == len(data)
