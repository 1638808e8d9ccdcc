"""HTTPS to Gameball: the `gameball.tls` settings, the one `ssl.SSLContext` built from them, and
what to tell the operator when a certificate is refused or checks are off.

Certificate checks are on by default, against the system's CA store (``/etc/ssl/certs`` on
Debian-based images; ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` still apply). `ca_file` replaces that
store with a PEM bundle, for a TLS-inspecting proxy or a private CA. Turning the checks off
takes two keys (`verify: false` and `force_insecure: true`), so that a copied snippet or a
single typo cannot do it, and it is warned about at every start.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from pydantic import ValidationInfo, field_validator, model_validator

from bridge.errors import ConfigError
from bridge.settings import ConfigPath, Frozen

log = structlog.get_logger("bridge.gameball")

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH: the certificate is
# valid but for another name, which no CA bundle fixes.
_NAME_MISMATCH = frozenset({62, 64})


class TlsConfig(Frozen):
    # A PEM bundle to trust instead of the system's CAs. Relative paths start at the config
    # file's folder.
    ca_file: ConfigPath | None = None
    # Declared before `verify` so that `verify`'s check can see it (fields validate in order).
    force_insecure: bool = False
    verify: bool = True

    @field_validator("ca_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # "${GAMEBALL_CA_FILE:-}" yields "" when unset: that means "the system's CAs".
        return None if value == "" else value

    @field_validator("ca_file")
    @classmethod
    def _readable_pem(cls, path: Path | None) -> Path | None:
        if path is not None:
            ca_context(path)
        return path

    @field_validator("verify")
    @classmethod
    def _off_only_when_forced(cls, verify: bool, info: ValidationInfo) -> bool:
        # `force_insecure` missing from info.data: it failed its own validation, reported there.
        if not verify and info.data.get("force_insecure") is False:
            raise ValueError(
                "false turns certificate checks off and is refused: anyone on the network path "
                "could then read and change what the bridge sends, API keys included. To trust "
                "a private CA or a TLS-inspecting proxy, set gameball.tls.ca_file instead. If "
                "you must (a test bench), set gameball.tls.force_insecure: true as well; the "
                "bridge then warns at every start"
            )
        return verify

    @model_validator(mode="after")
    def _ca_file_needs_checks(self) -> TlsConfig:
        if self.ca_file is not None and not self.verify:
            raise ValueError(
                "ca_file is set but verify is false: nothing would be checked against it "
                "(remove one of them)"
            )
        return self


def ca_context(path: Path) -> ssl.SSLContext:
    """A client context trusting only the certificates in the PEM file `path`; a `ValueError`
    naming the path when it cannot be read or holds no certificate."""
    try:
        # With cafile, create_default_context loads that file instead of the system's store.
        return ssl.create_default_context(cafile=path)
    # SSLError first: it is an OSError too, but means the file was read and is not PEM.
    except ssl.SSLError as exc:
        raise ValueError(
            f"{str(path)!r} holds no PEM certificate ({exc.reason or exc}): expected a PEM "
            "bundle of CA certificates"
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None


def ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """The client context every connection to Gameball uses. Built once per client: loading a
    CA store costs milliseconds of CPU and ~1 MB, which per connection pool would add up."""
    if not tls.verify:
        # force_insecure is set (the config refuses otherwise). PROTOCOL_TLS_CLIENT keeps the
        # modern protocol floor; only the checks are off. check_hostname must go first.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if tls.ca_file is None:
        return ssl.create_default_context()
    try:
        return ca_context(tls.ca_file)
    except ValueError as exc:
        # The file was fine when the config was loaded, and changed since.
        raise ConfigError(f"gameball.tls.ca_file: {exc}") from None


def describe_tls_failure(exc: BaseException, tls: TlsConfig) -> str | None:
    """What went wrong in a TLS handshake that raised `exc` (or anything in its chain), and
    what to set; None when `exc` has nothing to do with TLS."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or str(cause)
            return f"certificate verify failed: {reason} ({_hint(cause.verify_code, tls)})"
        if isinstance(cause, ssl.SSLError):
            return (
                f"TLS handshake failed: {cause.reason or cause} "
                "(check that gameball.base_url is the HTTPS address of the API)"
            )
        cause = cause.__cause__ or cause.__context__
    return None


def _hint(verify_code: int, tls: TlsConfig) -> str:
    if verify_code in _NAME_MISMATCH:
        return "the certificate is for another host: check gameball.base_url"
    if tls.ca_file is not None:
        return (
            f"gameball.tls.ca_file ({tls.ca_file}) does not hold the CA that signed Gameball's "
            "certificate, or the proxy's: set it to the right PEM bundle"
        )
    return (
        "the system's CAs do not trust this certificate; behind a TLS-inspecting proxy or with "
        "a private CA, set gameball.tls.ca_file to its CA bundle (PEM)"
    )


def unverified_warning(tls: TlsConfig) -> str | None:
    """The warning for forced-off certificate checks, or None when they are on."""
    if tls.verify:
        return None
    return (
        "TLS certificate checks are OFF for Gameball (gameball.tls.verify: false, forced): "
        "anyone on the network path can read and change the requests, API keys included"
    )


def plain_http_warning(base_url: str) -> str | None:
    """A warning when `base_url` sends the keys unencrypted to another machine.

    Not an error: the emulator beside the bridge (docker-compose's ``http://gameball-emulator``)
    and an egress proxy on a private network are legitimate. Loopback is not warned about."""
    parts = urlsplit(base_url)
    if parts.scheme != "http":
        return None
    host = parts.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"gameball.base_url is plain http to {host}: the API keys and customer data cross the "
        "network unencrypted (use https://)"
    )


def log_insecure_transport(base_url: str, tls: TlsConfig) -> None:
    """Warn, at every start, about what the settings leave unprotected."""
    if (warning := unverified_warning(tls)) is not None:
        log.warning("gameball.tls_unverified", base_url=base_url, warning=warning)
    if (warning := plain_http_warning(base_url)) is not None:
        log.warning("gameball.plain_http", base_url=base_url, warning=warning)
