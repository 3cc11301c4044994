"""The local API's settings and listening socket: fail closed, one clear line each."""

from __future__ import annotations

import pytest

from director.api.server import bind
from director.setting_parsers import is_loopback, parse_listen
from director.settings import SettingsError, load_settings

TOKEN = "a-long-enough-token-123"


def test_a_non_loopback_address_is_refused_unless_remote_is_allowed() -> None:
    with pytest.raises(SettingsError, match=r"^OMEGA_API_LISTEN: 0\.0\.0\.0 is not a loopback"):
        load_settings(_env_file=None, api_listen="0.0.0.0:8787")
    with pytest.raises(SettingsError, match="OMEGA_API_LISTEN: myhost is not a loopback"):
        load_settings(_env_file=None, api_listen="myhost:8787")
    allowed = load_settings(_env_file=None, api_listen="0.0.0.0:8787", api_allow_remote=True)
    assert allowed.api_listen == "0.0.0.0:8787"
    assert load_settings(_env_file=None).api_listen == "127.0.0.1:8787"


def test_listen_addresses_are_host_and_port() -> None:
    assert parse_listen("[::1]:8787") == ("::1", 8787) and is_loopback("::1")
    assert parse_listen("localhost:0") == ("localhost", 0) and is_loopback("localhost")
    for bad in ("8787", "127.0.0.1:", "127.0.0.1:99999", ":8787", "127.0.0.1:http"):
        with pytest.raises(SettingsError, match=r"OMEGA_API_LISTEN: .* is not host:port"):
            load_settings(_env_file=None, api_listen=bad)


def test_the_token_is_secret_long_enough_and_blank_means_off() -> None:
    settings = load_settings(_env_file=None, api_token=TOKEN)
    assert settings.api_token is not None and settings.api_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert load_settings(_env_file=None, api_token="  ").api_token is None
    with pytest.raises(SettingsError) as short:
        load_settings(_env_file=None, api_token="short-secret")
    assert str(short.value).startswith("OMEGA_API_TOKEN: at least 16 characters")
    assert "short-secret" not in str(short.value)


def test_a_busy_port_is_one_clear_line() -> None:
    taken = bind("127.0.0.1:0")
    try:
        port = taken.getsockname()[1]
        with pytest.raises(
            SettingsError, match=f"OMEGA_API_LISTEN: cannot listen on 127.0.0.1:{port}"
        ):
            bind(f"127.0.0.1:{port}")
    finally:
        taken.close()
