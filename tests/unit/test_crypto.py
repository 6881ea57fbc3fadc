"""Sealing secrets (AES-256-GCM): round trip, bound to its use, tamper-evident, rotatable."""

from __future__ import annotations

import os

import pytest

from prorata.platform.crypto import Sealer, SealError

KEY, OLD = os.urandom(32), os.urandom(32)


def test_a_sealed_value_opens_with_its_key_and_context_only() -> None:
    sealer = Sealer(KEY)
    sealed = sealer.seal("JBSWY3DPEHPK3PXP", context="totp:1")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert sealed != sealer.seal("JBSWY3DPEHPK3PXP", context="totp:1")  # a fresh nonce
    assert sealer.open(sealed, context="totp:1") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(SealError, match="another use"):
        sealer.open(sealed, context="totp:2")  # copied to another user's row
    with pytest.raises(SealError):
        Sealer(os.urandom(32)).open(sealed, context="totp:1")


def test_an_altered_value_does_not_open() -> None:
    sealer = Sealer(KEY)
    version, key_id, body = sealer.seal("secret", context="c").split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for broken in (f"{version}.{key_id}.{flipped}", "v9.x.y", "garbage", ""):
        with pytest.raises(SealError):
            sealer.open(broken, context="c")


def test_values_sealed_under_an_old_key_open_during_a_rotation() -> None:
    sealed = Sealer(OLD).seal("secret", context="c")
    rotated = Sealer(KEY, (OLD,))
    assert rotated.open(sealed, context="c") == "secret"
    resealed = rotated.seal("secret", context="c")
    assert Sealer(KEY).open(resealed, context="c") == "secret"  # under the new key only
