"""Webhook signatures as the chat product makes them: RSA SHA-256 (PKCS#1 v1.5) over the body.

The product signs the raw request body (UTF-8 JSON) with its account's private key and sends
the base64 signature in the ``x-siqsignature`` header; the receiver checks it with the public
key (PEM) the product publishes.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["SIGNATURE_HEADER", "KeyPair", "generate_key_pair", "sign", "verify"]

#: The request header that carries the signature.
SIGNATURE_HEADER = "x-siqsignature"

_KEY_BITS = 2048


@dataclass(frozen=True)
class KeyPair:
    """An RSA key pair as PEM text: the private key (PKCS#8) and the public key (SPKI)."""

    private_pem: bytes
    public_pem: str


def generate_key_pair() -> KeyPair:
    """A new RSA 2048 key pair, as the product makes one for an account."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem=private_pem, public_pem=public_pem.decode("ascii"))


def sign(body: bytes, private_key_pem: bytes | str) -> str:
    """The base64 signature of ``body`` for the ``x-siqsignature`` header."""
    signature = _private_key(private_key_pem).sign(body, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(body: bytes, signature: str | None, public_key_pem: str) -> bool:
    """Whether ``signature`` is the product's signature of ``body``; never raises."""
    if not signature:
        return False
    try:
        public_key = _public_key(public_key_pem)
        raw_signature = base64.b64decode(signature, validate=True)
    except (ValueError, TypeError, AttributeError, UnsupportedAlgorithm):
        return False  # bad base64 (binascii.Error is a ValueError) or an unusable key
    if len(raw_signature) != public_key.key_size // 8:
        return False
    try:
        public_key.verify(raw_signature, body, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# Loading a PEM parses (and for a private key, checks) the whole key: far dearer than one
# signature. Every webhook of an account is checked against the same key, so keep it loaded.
@functools.lru_cache(maxsize=32)
def _public_key(public_key_pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


@functools.lru_cache(maxsize=8)
def _private_key(private_key_pem: bytes | str) -> rsa.RSAPrivateKey:
    pem = private_key_pem.encode("ascii") if isinstance(private_key_pem, str) else private_key_pem
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key
