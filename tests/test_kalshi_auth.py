"""Kalshi request signing and key loading: what Kalshi verifies, and clear start-up errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from director.exchanges.kalshi import KalshiExchange
from director.exchanges.kalshi.auth import KalshiSigner, load_private_key, signing_text
from director.settings import Settings, SettingsError
from tests.kalshi_standin import new_rsa_key, write_private_key

SECRET_MARKER = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return new_rsa_key()


def test_signature_is_rsa_pss_over_timestamp_method_and_path(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner("key-123", rsa_key)
    headers = signer.headers("get", "/trade-api/v2/portfolio/orders?status=resting", 1700000000123)
    assert headers["KALSHI-ACCESS-KEY"] == "key-123"
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1700000000123"
    signature = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"], validate=True)
    signed = b"1700000000123GET/trade-api/v2/portfolio/orders"
    assert signing_text(1700000000123, "get", "/trade-api/v2/portfolio/orders?x=1") == signed
    exact = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    rsa_key.public_key().verify(signature, signed, exact, hashes.SHA256())
    # The query string is not part of what is signed.
    with pytest.raises(InvalidSignature):
        rsa_key.public_key().verify(signature, signed + b"?status=resting", exact, hashes.SHA256())


def test_pss_signatures_are_randomized_but_all_verify(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner("k", rsa_key)
    first = signer.headers("GET", "/p", 1)["KALSHI-ACCESS-SIGNATURE"]
    second = signer.headers("GET", "/p", 1)["KALSHI-ACCESS-SIGNATURE"]
    assert first != second


def test_ed25519_keys_sign_the_same_text(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    loaded = load_private_key(write_private_key(key, tmp_path / "ed.key"))
    headers = KalshiSigner("k", loaded).headers("POST", "/trade-api/v2/x", 5)
    signature = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"])
    key.public_key().verify(signature, b"5POST/trade-api/v2/x")


def test_the_signer_never_shows_its_key(rsa_key: rsa.RSAPrivateKey) -> None:
    text = repr(KalshiSigner("key-123", rsa_key))
    assert text == "KalshiSigner(key_id='key-123', key=<RSA private key>)"


def settings(path: Path | None, key_id: str | None = "key-123") -> Settings:
    return Settings(exchange="paper", kalshi_api_key_id=key_id, kalshi_private_key_path=path)


def start_up_error(path: Path | None, key_id: str | None = "key-123") -> str:
    with pytest.raises(SettingsError) as caught:
        KalshiExchange.from_settings(settings(path, key_id))
    return str(caught.value)


def test_a_missing_key_path_is_a_start_up_error() -> None:
    assert start_up_error(None) == "KALSHI_PRIVATE_KEY_PATH: required with OMEGA_EXCHANGE=kalshi"


def test_a_missing_key_id_is_a_start_up_error(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = write_private_key(rsa_key, tmp_path / "k.key")
    assert start_up_error(path, key_id="  ").startswith("KALSHI_API_KEY_ID: required")


def test_a_missing_key_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    assert start_up_error(missing) == f"KALSHI_PRIVATE_KEY_PATH: no such file {str(missing)!r}"


def test_a_directory_is_not_a_key(tmp_path: Path) -> None:
    assert "is not a regular file" in start_up_error(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_an_unreadable_key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = write_private_key(rsa_key, tmp_path / "k.key")
    path.chmod(0)
    assert "cannot read" in start_up_error(path)


def test_garbage_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET_MARKER}\n-----END PRIVATE KEY-----\n")
    message = start_up_error(path)
    assert message.startswith("KALSHI_PRIVATE_KEY_PATH:")
    assert "is not a PEM private key" in message
    assert SECRET_MARKER not in message
    assert "\n" not in message


def test_an_encrypted_key_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "k.key"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    assert "is encrypted" in start_up_error(path)


def test_other_key_types_and_small_keys_are_refused(tmp_path: Path) -> None:
    ec_path = tmp_path / "ec.key"
    ec_path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert "must be an RSA or Ed25519 private key" in start_up_error(ec_path)
    small = write_private_key(
        rsa.generate_private_key(public_exponent=65537, key_size=1024), tmp_path / "small.key"
    )
    assert "1024-bit RSA key" in start_up_error(small)


def test_a_world_readable_key_is_used_with_a_warning(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_private_key(rsa_key, tmp_path / "k.key")
    path.chmod(0o644)
    load_private_key(path)
    assert "readable by other users" in caplog.text
    assert SECRET_MARKER not in caplog.text
