"""`gameball.tls`: what the config accepts and refuses, the SSLContext it builds, and the
start-up warnings. Over a real socket: tests/sandbox/test_gameball_https.py."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bridge.errors import ConfigError
from bridge.gameball.client import GameballClient
from bridge.gameball.tls import (
    TlsConfig,
    describe_tls_failure,
    log_insecure_transport,
    plain_http_warning,
    ssl_context,
)
from tests.certificates import Authority, make_authority
from tests.support import HTTPS_URL
from tests.support import gameball_tls_config as config


def refused(tls: dict[str, Any], base_url: str = HTTPS_URL) -> str:
    with pytest.raises(ConfigError) as caught:
        config(tls, base_url)
    return str(caught.value)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("ca"))


# --- what the config accepts and refuses ---------------------------------------------------


def test_checks_are_on_against_the_system_cas_by_default() -> None:
    tls = config().gameball.tls
    assert (tls.ca_file, tls.verify, tls.force_insecure) == (None, True, False)


def test_turning_checks_off_alone_is_refused_and_says_how_and_why_not() -> None:
    message = refused({"verify": False})
    assert "bridge.yaml: invalid configuration (1 problem(s))" in message
    line = message.splitlines()[1]
    assert line.startswith("  gameball.tls.verify: false turns certificate checks off")
    assert "gameball.tls.force_insecure: true" in line  # how to force it
    assert "API keys" in line  # why not to
    assert "gameball.tls.ca_file" in line  # what to do instead


def test_turning_checks_off_is_accepted_when_forced() -> None:
    tls = config({"verify": False, "force_insecure": True}).gameball.tls
    assert (tls.verify, tls.force_insecure) == (False, True)
    # force_insecure alone changes nothing: checks stay on.
    assert config({"force_insecure": True}).gameball.tls.verify is True


def test_a_ca_file_that_does_not_exist_names_the_key_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    message = refused({"ca_file": str(missing)})
    assert f"  gameball.tls.ca_file: cannot read {str(missing)!r}: No such file" in message


def test_a_directory_is_not_a_ca_file(tmp_path: Path) -> None:
    message = refused({"ca_file": str(tmp_path)})
    assert f"  gameball.tls.ca_file: cannot read {str(tmp_path)!r}: Is a directory" in message


@pytest.mark.parametrize(
    "content",
    [
        b"not a certificate\n",
        b"",
        b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    ],
    ids=["text", "empty", "a key only"],
)
def test_a_ca_file_without_a_pem_certificate_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(content)
    message = refused({"ca_file": str(path)})
    assert f"  gameball.tls.ca_file: {str(path)!r} holds no PEM certificate" in message


def test_a_ca_file_in_der_form_is_refused(tmp_path: Path, authority: Authority) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    path = tmp_path / "ca.der"
    path.write_bytes(authority.cert.public_bytes(Encoding.DER))
    assert "holds no PEM certificate" in refused({"ca_file": str(path)})


def test_a_readable_pem_ca_file_is_accepted(authority: Authority) -> None:
    assert config({"ca_file": str(authority.cert_file)}).gameball.tls.ca_file == (
        authority.cert_file
    )


def test_an_empty_ca_file_means_the_system_cas() -> None:
    # What "${GAMEBALL_CA_FILE:-}" yields when the variable is unset.
    assert config({"ca_file": ""}).gameball.tls.ca_file is None


def test_a_ca_file_with_checks_off_is_contradictory(authority: Authority) -> None:
    message = refused(
        {"ca_file": str(authority.cert_file), "verify": False, "force_insecure": True}
    )
    assert "gameball.tls: ca_file is set but verify is false" in message


def test_a_ca_file_with_a_plain_http_url_is_refused(authority: Authority) -> None:
    message = refused({"ca_file": str(authority.cert_file)}, base_url="http://gameball.test")
    assert "gameball: tls.ca_file is set but base_url 'http://gameball.test' is plain http" in (
        message
    )


def test_unknown_tls_keys_are_refused() -> None:
    assert "gameball.tls.verfy: unknown key" in refused({"verfy": False})


# --- the SSLContext --------------------------------------------------------------------------


def test_the_default_context_checks_against_the_system_store() -> None:
    context = ssl_context(TlsConfig())
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats() == ssl.create_default_context().cert_store_stats()


def test_a_ca_file_replaces_the_system_store(authority: Authority) -> None:
    context = ssl_context(TlsConfig(ca_file=authority.cert_file))
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    [trusted] = context.get_ca_certs()
    assert trusted["subject"] == ((("commonName", "bridge-test-ca"),),)


def test_forced_off_checks_verify_nothing() -> None:
    context = ssl_context(TlsConfig(verify=False, force_insecure=True))
    assert context.verify_mode is ssl.CERT_NONE
    assert context.check_hostname is False
    assert context.get_ca_certs() == []


def test_a_ca_file_gone_after_loading_is_a_config_error(
    tmp_path: Path, authority: Authority
) -> None:
    path = tmp_path / "ca.pem"
    path.write_bytes(authority.cert_file.read_bytes())
    tls = TlsConfig(ca_file=path)
    path.unlink()
    with pytest.raises(ConfigError, match=r"^gameball\.tls\.ca_file: cannot read"):
        ssl_context(tls)


def test_every_pool_of_the_client_shares_one_context(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx builds (and loads a CA store into) a context per client unless given one; the
    # client has max_connections / 4 pools.
    made: list[ssl.SSLContext] = []
    original = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    gameball = config().gameball.model_copy(update={"max_connections": 32})
    client = GameballClient(gameball)
    try:
        assert len(client._pools) == 8
        assert len(made) == 1
    finally:
        asyncio.run(client.aclose())


# --- telling the operator ------------------------------------------------------------------


def test_certificate_failures_say_what_to_set(authority: Authority) -> None:
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_code, untrusted.verify_message = 20, "unable to get local issuer certificate"
    wrapped = ConnectionError("connect failed")
    wrapped.__cause__ = untrusted

    system = describe_tls_failure(wrapped, TlsConfig())
    assert system is not None
    assert system.startswith("certificate verify failed: unable to get local issuer certificate")
    assert "set gameball.tls.ca_file" in system

    own = describe_tls_failure(wrapped, TlsConfig(ca_file=authority.cert_file))
    assert own is not None
    assert f"gameball.tls.ca_file ({authority.cert_file}) does not hold the CA" in own

    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    mismatch.verify_code, mismatch.verify_message = 62, "Hostname mismatch"
    other_host = describe_tls_failure(mismatch, TlsConfig())
    assert other_host is not None
    assert "for another host: check gameball.base_url" in other_host

    # Not a certificate: e.g. https:// to a port that answers in plain HTTP.
    not_tls = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    not_tls.reason = "WRONG_VERSION_NUMBER"
    handshake = describe_tls_failure(not_tls, TlsConfig())
    assert handshake is not None
    assert handshake.startswith("TLS handshake failed: WRONG_VERSION_NUMBER (check that gameball")

    assert describe_tls_failure(ConnectionRefusedError(111, "refused"), TlsConfig()) is None


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://gameball.example", True),
        ("http://10.0.0.5:8080", True),
        ("http://gameball-emulator:8080", True),
        ("http://127.0.0.1:8080", False),
        ("http://127.3.2.1", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
        ("https://api.gameball.co", False),
    ],
)
def test_plain_http_is_warned_about_unless_loopback(base_url: str, warned: bool) -> None:
    assert (plain_http_warning(base_url) is not None) is warned


def test_start_up_warnings() -> None:
    forced = TlsConfig(verify=False, force_insecure=True)
    with capture_logs() as logs:
        log_insecure_transport("https://api.gameball.co", forced)
        log_insecure_transport("http://gameball.example", TlsConfig())
        log_insecure_transport("https://api.gameball.co", TlsConfig())
    assert [(e["event"], e["log_level"], e["base_url"]) for e in logs] == [
        ("gameball.tls_unverified", "warning", "https://api.gameball.co"),
        ("gameball.plain_http", "warning", "http://gameball.example"),
    ]
    assert "certificate checks are OFF" in logs[0]["warning"]
