"""Sealing secrets the app must read back (a TOTP secret): AES-256-GCM under the settings' key.

A sealed value is `v1.<key id>.<base64 nonce + ciphertext + tag>`; the key id (the first 8 hex
digits of the key's SHA-256) says which key sealed it, so keys can be rotated: set the new
PRORATA_ENCRYPTION_KEY and keep the old one in PRORATA_ENCRYPTION_OLD_KEYS until everything was
sealed again (a value is resealed under the current key whenever it is written).
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from prorata.config import Settings

VERSION = "v1"


class SealError(ValueError):
    """A sealed value that no known key opens (tampered with, or its key is gone)."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def key_id_of(value: str) -> str:
    """The id of the key that sealed `value` ("" when it is no sealed value)."""
    parts = value.split(".", 2)
    return parts[1] if len(parts) == 3 else ""


class Sealer:
    def __init__(self, current: bytes, old: tuple[bytes, ...] = ()) -> None:
        self._current = current
        self._keys = {_key_id(key): key for key in (*old, current)}

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        def decode(secret: str) -> bytes:
            return base64.b64decode(secret)

        return cls(
            decode(settings.encryption_key.get_secret_value()),
            tuple(decode(key.get_secret_value()) for key in settings.encryption_old_keys),
        )

    @property
    def current_key_id(self) -> str:
        return _key_id(self._current)

    def seal(self, plaintext: str, *, context: str) -> str:
        """`context` (e.g. "totp:<user id>") is bound to the value: a sealed value copied to
        another row does not open there."""
        nonce = os.urandom(12)
        sealed = AESGCM(self._current).encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{VERSION}.{_key_id(self._current)}.{body}"

    def open(self, value: str, *, context: str) -> str:
        try:
            version, key_id, body = value.split(".", 2)
            key = self._keys[key_id]
            raw = base64.urlsafe_b64decode(body)
        except (ValueError, KeyError) as exc:
            raise SealError("no known key opens this value") from exc
        if version != VERSION:
            raise SealError(f"unknown sealing version {version!r}")
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag as exc:
            raise SealError("the sealed value was altered or sealed for another use") from exc
