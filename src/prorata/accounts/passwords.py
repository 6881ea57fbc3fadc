"""Passwords: argon2id hashes, a strength rule, and verification off the event loop.

Parameters are RFC 9106's second recommended option (argon2id, t=3, m=64 MiB, p=4, 16-byte
salt, 32-byte tag): ~50–100 ms a hash on one core here, and memory-hard against GPUs. They are
kept in the hash itself, so raising them later rehashes each password at its next sign-in
(`needs_rehash`).
"""

from __future__ import annotations

import asyncio

import zxcvbn
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from prorata.platform import errors

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounded input: argon2 would hash a megabyte, slowly
# zxcvbn scores 0–4; 3 is "safely unguessable: moderate protection from offline attacks".
MIN_SCORE = 3

_hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
# A hash of nothing anybody knows: verified against when no account matches, so a sign-in for
# an unknown address takes as long as one for a known address.
_DECOY = _hasher.hash("prorata decoy: no account has this password")


def check_strength(password: str, *, email: str = "", name: str = "") -> None:
    """Refuse a password shorter than 12 characters, or one found in the common-password and
    word lists (zxcvbn), with the reason in words."""
    if len(password) < MIN_LENGTH:
        raise errors.RuleViolation(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise errors.RuleViolation(f"the password must be at most {MAX_LENGTH} characters long")
    user_inputs = [part for part in (email, email.split("@")[0], name) if part]
    result = zxcvbn.zxcvbn(password[:100], user_inputs=user_inputs)
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "it is too easy to guess"
        raise errors.RuleViolation(
            f"the password is too easy to guess: {warning.rstrip('.').lower()}; "
            "a few unrelated words make a strong one"
        )


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DECOY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (no such account), as slow and False."""
    return await asyncio.to_thread(_verify, password_hash, password[:MAX_LENGTH])


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
