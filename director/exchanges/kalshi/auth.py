"""Kalshi private-key loading and request signing (the signing text and the three headers).

Every authenticated request carries KALSHI-ACCESS-KEY, KALSHI-ACCESS-TIMESTAMP (epoch ms) and
KALSHI-ACCESS-SIGNATURE: base64 of an RSA-PSS signature (SHA-256, MGF1-SHA256, salt length =
digest length) over `timestamp + METHOD + path`, where the path includes the /trade-api/v2
prefix and excludes the query string. Kalshi also issues Ed25519 keys, which sign the same
text; both are accepted.

Key material never leaves this module: errors name the file, never its contents.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.settings import SettingsError

log = logging.getLogger(__name__)

KEY_SETTING = "KALSHI_PRIVATE_KEY_PATH"
KEY_ID_SETTING = "KALSHI_API_KEY_ID"
MAX_KEY_FILE_BYTES = 64 * 1024
MIN_RSA_BITS = 2048

PrivateKey = RSAPrivateKey | Ed25519PrivateKey

# The exact PSS parameters Kalshi verifies with; a different salt length fails verification.
PSS_PADDING = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def signing_text(timestamp_ms: int, method: str, path: str) -> bytes:
    """What gets signed: the query string is not part of it."""
    return f"{timestamp_ms}{method.upper()}{path.split('?', 1)[0]}".encode()


def load_private_key(path: Path | str | None) -> PrivateKey:
    """Read an unencrypted PEM private key; every failure is a one-line SettingsError."""
    if path is None or not str(path).strip():
        raise SettingsError(f"{KEY_SETTING}: required with OMEGA_EXCHANGE=kalshi")
    key_path = Path(path).expanduser()
    shown = str(key_path)
    try:
        info = key_path.stat()
    except FileNotFoundError:
        raise SettingsError(f"{KEY_SETTING}: no such file {shown!r}") from None
    except OSError as exc:
        raise SettingsError(f"{KEY_SETTING}: cannot read {shown!r} ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise SettingsError(f"{KEY_SETTING}: {shown!r} is not a regular file")
    if info.st_size > MAX_KEY_FILE_BYTES:
        raise SettingsError(f"{KEY_SETTING}: {shown!r} is too large to be a private key")
    try:
        data = key_path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{KEY_SETTING}: cannot read {shown!r} ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SettingsError(
            f"{KEY_SETTING}: {shown!r} is encrypted; Kalshi keys are used unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SettingsError(
            f"{KEY_SETTING}: {shown!r} is not a PEM private key (expected the .key file "
            "Kalshi gave you when the API key was created)"
        ) from None
    if isinstance(key, RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SettingsError(
                f"{KEY_SETTING}: {shown!r} is a {key.key_size}-bit RSA key; "
                f"at least {MIN_RSA_BITS} bits are required"
            )
    elif not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(f"{KEY_SETTING}: {shown!r} must be an RSA or Ed25519 private key")
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s %s is readable by other users; chmod 600 it", KEY_SETTING, shown)
    return key


class KalshiSigner:
    """Produces the three auth headers for one request."""

    def __init__(self, key_id: str, private_key: PrivateKey) -> None:
        key_id = key_id.strip()
        if not key_id:
            raise SettingsError(f"{KEY_ID_SETTING}: required with OMEGA_EXCHANGE=kalshi")
        if any(ch.isspace() or not ch.isprintable() for ch in key_id) or len(key_id) > 128:
            raise SettingsError(f"{KEY_ID_SETTING}: not a valid API key id")
        self.key_id = key_id
        self._key = private_key

    @classmethod
    def from_files(cls, key_id: str | None, key_path: Path | str | None) -> KalshiSigner:
        if key_id is None or not key_id.strip():
            raise SettingsError(f"{KEY_ID_SETTING}: required with OMEGA_EXCHANGE=kalshi")
        return cls(key_id, load_private_key(key_path))

    def sign(self, message: bytes) -> bytes:
        if isinstance(self._key, Ed25519PrivateKey):
            return self._key.sign(message)
        return self._key.sign(message, PSS_PADDING, hashes.SHA256())

    def headers(self, method: str, path: str, timestamp_ms: int) -> dict[str, str]:
        signature = self.sign(signing_text(timestamp_ms, method, path))
        return {
            "KALSHI-ACCESS-KEY": self.key_id,
            "KALSHI-ACCESS-TIMESTAMP": str(timestamp_ms),
            "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode("ascii"),
        }

    def __repr__(self) -> str:
        kind = "Ed25519" if isinstance(self._key, Ed25519PrivateKey) else "RSA"
        return f"KalshiSigner(key_id={self.key_id!r}, key=<{kind} private key>)"
