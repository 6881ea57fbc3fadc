"""The password rule (length, guessability) and argon2id hashing."""

from __future__ import annotations

import pytest

from prorata.accounts import passwords
from prorata.platform import errors


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Tr0ub4dor&3", "at least 12 characters"),
        ("password1234", "too easy to guess"),
        ("qwertyuiop123", "too easy to guess"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("owner.demo@example.com1", "too easy to guess"),  # the address itself
        ("x" * 257, "at most 256"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    with pytest.raises(errors.RuleViolation, match=reason):
        passwords.check_strength(password, email="owner.demo@example.com")


@pytest.mark.parametrize("password", ["violet harbour engine 47", "correct horse battery staple"])
def test_a_few_unrelated_words_make_a_strong_password(password: str) -> None:
    passwords.check_strength(password, email="someone@example.com")


async def test_hashes_are_argon2id_salted_and_verified() -> None:
    first = await passwords.hash_password("violet harbour engine 47")
    second = await passwords.hash_password("violet harbour engine 47")
    assert first.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert first != second  # a salt each
    assert await passwords.verify_password(first, "violet harbour engine 47")
    assert not await passwords.verify_password(first, "violet harbour engine 48")
    assert not await passwords.verify_password(None, "anything")  # no account: as slow, False
    assert not await passwords.verify_password("not a hash", "anything")
    assert not passwords.needs_rehash(first)
