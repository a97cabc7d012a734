"""Encryption at rest for secrets extensions store (channel tokens, app secrets).

Keys come from ``DESKHOST_ENCRYPTION_KEY`` (comma-separated Fernet keys, newest first): the
first encrypts, every one decrypts, so a key is rotated by putting the new one in front and
keeping the old ones until :func:`rotate` has re-encrypted what they protect.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["InvalidToken", "decrypt", "encrypt", "mask", "rotate"]


def _fernet(keys: Sequence[str]) -> MultiFernet:
    if not keys:
        raise ValueError("no encryption key configured (set DESKHOST_ENCRYPTION_KEY)")
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def encrypt(keys: Sequence[str], plaintext: str) -> str:
    """Encrypt ``plaintext`` with the first key; returns a URL-safe token."""
    return _fernet(keys).encrypt(plaintext.encode()).decode()


def decrypt(keys: Sequence[str], token: str) -> str:
    """Decrypt a token made with any of ``keys``.

    :raises InvalidToken: when no key opens it (a key was dropped too early) or it was altered.
    """
    return _fernet(keys).decrypt(token.encode()).decode()


def rotate(keys: Sequence[str], token: str) -> str:
    """Re-encrypt a token under the first key (after adding a new key in front)."""
    return _fernet(keys).rotate(token.encode()).decode()


def mask(plaintext: str, visible: int = 4) -> str:
    """A display form that shows only the last ``visible`` characters, e.g. ``••••1a2b``."""
    if len(plaintext) <= visible:
        return "••••"
    return "••••" + plaintext[-visible:]
