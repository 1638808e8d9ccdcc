"""How the bridge reaches a secured Kafka cluster: the `kafka.security` section of the config
(TLS and SASL), its validation, and its rendering into librdkafka properties.

    kafka:
      security:
        protocol: SASL_SSL                 # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
        tls: {ca_file: /etc/bridge/kafka-ca.pem}
        sasl: {mechanism: SCRAM-SHA-512, username: bridge, password: "${KAFKA_PASSWORD}"}

Files are checked when the config is loaded (they exist, can be read, hold PEM), so a wrong
path stops start-up with the key that names it instead of surfacing later as a TLS handshake
failure. Secrets are `SecretStr`; `KafkaSecurity.secrets()` lists them for masking.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator

from bridge.settings import ConfigPath, Frozen


def _upper(value: Any) -> Any:
    # librdkafka reads these case-insensitively; so does the config.
    return value.upper() if isinstance(value, str) else value


Protocol = Annotated[
    Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"], BeforeValidator(_upper)
]
Mechanism = Annotated[
    Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"], BeforeValidator(_upper)
]

_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
# PKCS#8 "ENCRYPTED PRIVATE KEY", or a traditional PEM key with a Proc-Type header.
_ENCRYPTED_KEY = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")


def _read(path: Path) -> bytes:
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc.strerror}") from None


def _certificates_file(path: Path) -> Path:
    if _CERTIFICATE not in _read(path):
        raise ValueError(f"{path}: holds no PEM certificate ({_CERTIFICATE.decode()})")
    return path


def _key_file(path: Path) -> Path:
    if not _PRIVATE_KEY.search(_read(path)):
        raise ValueError(f"{path}: holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
    return path


def _empty_is_none(value: Any) -> Any:
    # "${KAFKA_CA_FILE:-}" gives "" when the variable is unset: that is no file at all.
    return None if value == "" else value


# Relative paths start at the config file's folder (`ConfigPath`).
CertificatesFile = Annotated[ConfigPath, AfterValidator(_certificates_file)]
KeyFile = Annotated[ConfigPath, AfterValidator(_key_file)]
OptionalCertificatesFile = Annotated[CertificatesFile | None, BeforeValidator(_empty_is_none)]
OptionalKeyFile = Annotated[KeyFile | None, BeforeValidator(_empty_is_none)]


def _non_empty(secret: SecretStr | None) -> SecretStr | None:
    # "${KAFKA_PASSWORD:-}" gives "" when the variable is unset: that is no password at all.
    return secret if secret is not None and secret.get_secret_value() else None


OptionalSecret = Annotated[SecretStr | None, AfterValidator(_non_empty)]


class TlsSettings(Frozen):
    # CA certificates (PEM) to trust for the brokers' certificates. Unset: the system's.
    ca_file: OptionalCertificatesFile = None
    # A client certificate (PEM, leaf first) and its key, for clusters that require mutual TLS.
    cert_file: OptionalCertificatesFile = None
    key_file: OptionalKeyFile = None
    key_password: OptionalSecret = None
    # Check that the broker's certificate names the host connected to. Off, anyone holding a
    # certificate from a trusted CA can pose as the cluster, so it takes `force_insecure` as
    # well (a copied snippet or one typo must not do it) and is warned about at every start.
    verify_hostname: bool = True
    force_insecure: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> TlsSettings:
        if not self.verify_hostname and not self.force_insecure:
            raise ValueError(
                "verify_hostname: false is refused: any certificate from a trusted CA would "
                "then pass for the cluster's. Give the brokers certificates that name the "
                "addresses clients use; if you must (a test bench), set force_insecure: true "
                "as well, and the bridge warns at every start"
            )
        if self.cert_file is not None and self.key_file is None:
            raise ValueError("cert_file is set without key_file: mutual TLS needs both")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file is set without cert_file: mutual TLS needs both")
        if self.key_password is not None and self.key_file is None:
            raise ValueError("key_password is set without key_file")
        if (
            self.key_file is not None
            and self.key_password is None
            and _ENCRYPTED_KEY.search(_read(self.key_file))
        ):
            raise ValueError(f"key_file {self.key_file} is encrypted: set key_password")
        return self


_EXTENSION_KEY = re.compile(r"[A-Za-z]+")


class OAuthBearerSettings(Frozen):
    """OAuth 2.0 client credentials: librdkafka fetches a token from the identity provider
    (OIDC) and refreshes it before it expires."""

    token_endpoint_url: str
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scope: str | None = None
    # SASL extensions sent with the token, e.g. Confluent Cloud's logicalCluster and
    # identityPoolId.
    extensions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> OAuthBearerSettings:
        if not re.match(r"^https?://[^/\s]+", self.token_endpoint_url):
            raise ValueError(
                f"token_endpoint_url: expected an http(s) URL, got {self.token_endpoint_url!r}"
            )
        if not self.client_secret.get_secret_value():
            raise ValueError("client_secret is empty")
        for key, value in self.extensions.items():
            # RFC 7628: keys are letters only and "auth" is reserved; librdkafka joins the
            # pairs with "," so a value cannot hold one.
            if not _EXTENSION_KEY.fullmatch(key) or key == "auth":
                raise ValueError(f"extensions: bad key {key!r} (letters only, not 'auth')")
            if "," in value:
                raise ValueError(f"extensions.{key}: a value cannot contain ','")
        return self


class SaslSettings(Frozen):
    mechanism: Mechanism
    # For PLAIN and SCRAM-*.
    username: str | None = None
    password: OptionalSecret = None
    # For OAUTHBEARER.
    oauthbearer: OAuthBearerSettings | None = None

    @model_validator(mode="after")
    def _credentials_match_mechanism(self) -> SaslSettings:
        if self.mechanism == "OAUTHBEARER":
            if self.oauthbearer is None:
                raise ValueError(
                    "mechanism OAUTHBEARER needs an oauthbearer block "
                    "(token_endpoint_url, client_id, client_secret)"
                )
            if self.username is not None or self.password is not None:
                raise ValueError(
                    "username and password are not used with OAUTHBEARER "
                    "(the token comes from oauthbearer.token_endpoint_url)"
                )
            return self
        missing = [
            key
            for key, value in (("username", self.username), ("password", self.password))
            if not value
        ]
        if missing:
            raise ValueError(
                f"mechanism {self.mechanism} needs username and password "
                f"({' and '.join(missing)} missing or empty)"
            )
        if self.oauthbearer is not None:
            raise ValueError(
                f"oauthbearer is only used with mechanism OAUTHBEARER, not {self.mechanism}"
            )
        return self


class KafkaSecurity(Frozen):
    protocol: Protocol = "PLAINTEXT"
    # With SSL and SASL_SSL; unset there means the system's CAs and hostname checks on.
    tls: TlsSettings | None = None
    # Required with SASL_PLAINTEXT and SASL_SSL.
    sasl: SaslSettings | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def hostname_unverified(self) -> bool:
        """TLS is on but the brokers' names are not checked (forced in the config)."""
        return self.uses_tls and self.tls is not None and not self.tls.verify_hostname

    @model_validator(mode="after")
    def _blocks_match_protocol(self) -> KafkaSecurity:
        if self.uses_sasl and self.sasl is None:
            raise ValueError(
                f"protocol {self.protocol} needs a sasl block "
                "(mechanism, and username/password or oauthbearer)"
            )
        if not self.uses_sasl and self.sasl is not None:
            raise ValueError(
                f"sasl is set but protocol {self.protocol} does not use SASL "
                "(use SASL_SSL, or SASL_PLAINTEXT)"
            )
        if not self.uses_tls and self.tls is not None:
            raise ValueError(
                f"tls is set but protocol {self.protocol} does not use TLS (use SSL or SASL_SSL)"
            )
        return self

    def secrets(self) -> dict[str, str]:
        """Every secret set, in clear, by its key path under `kafka.security`."""
        found: dict[str, SecretStr | None] = {}
        if self.tls is not None:
            found["tls.key_password"] = self.tls.key_password
        if self.sasl is not None:
            found["sasl.password"] = self.sasl.password
            if self.sasl.oauthbearer is not None:
                found["sasl.oauthbearer.client_secret"] = self.sasl.oauthbearer.client_secret
        return {path: s.get_secret_value() for path, s in found.items() if s is not None}


def librdkafka_properties(security: KafkaSecurity) -> dict[str, str]:
    """The librdkafka properties that connect as `security` says."""
    props: dict[str, str] = {"security.protocol": security.protocol}
    if security.uses_tls:
        tls = security.tls or TlsSettings()
        if tls.ca_file is not None:
            props["ssl.ca.location"] = str(tls.ca_file)
        if tls.cert_file is not None and tls.key_file is not None:
            props["ssl.certificate.location"] = str(tls.cert_file)
            props["ssl.key.location"] = str(tls.key_file)
        if tls.key_password is not None:
            props["ssl.key.password"] = tls.key_password.get_secret_value()
        props["ssl.endpoint.identification.algorithm"] = "https" if tls.verify_hostname else "none"
    sasl = security.sasl
    if security.uses_sasl and sasl is not None:
        props["sasl.mechanism"] = sasl.mechanism
        if sasl.oauthbearer is not None:
            oauth = sasl.oauthbearer
            props["sasl.oauthbearer.method"] = "oidc"
            props["sasl.oauthbearer.token.endpoint.url"] = oauth.token_endpoint_url
            props["sasl.oauthbearer.client.id"] = oauth.client_id
            props["sasl.oauthbearer.client.secret"] = oauth.client_secret.get_secret_value()
            if oauth.scope:
                props["sasl.oauthbearer.scope"] = oauth.scope
            if oauth.extensions:
                props["sasl.oauthbearer.extensions"] = ",".join(
                    f"{k}={v}" for k, v in oauth.extensions.items()
                )
        elif sasl.username is not None and sasl.password is not None:
            props["sasl.username"] = sasl.username
            props["sasl.password"] = sasl.password.get_secret_value()
    return props


# librdkafka properties a `kafka.security` block decides, and the key that decides each.
# Given in `properties` as well, one would silently win over the other, so both is an error.
_OWNED = {
    "security.protocol": "protocol",
    "sasl.mechanism": "sasl.mechanism",
    "sasl.mechanisms": "sasl.mechanism",  # librdkafka's older name for the same property
    "sasl.username": "sasl.username",
    "sasl.password": "sasl.password",
    "sasl.oauthbearer.method": "sasl.oauthbearer",
    "sasl.oauthbearer.token.endpoint.url": "sasl.oauthbearer.token_endpoint_url",
    "sasl.oauthbearer.client.id": "sasl.oauthbearer.client_id",
    "sasl.oauthbearer.client.secret": "sasl.oauthbearer.client_secret",
    "sasl.oauthbearer.scope": "sasl.oauthbearer.scope",
    "sasl.oauthbearer.extensions": "sasl.oauthbearer.extensions",
    "ssl.ca.location": "tls.ca_file",
    "ssl.certificate.location": "tls.cert_file",
    "ssl.key.location": "tls.key_file",
    "ssl.key.password": "tls.key_password",
    "ssl.endpoint.identification.algorithm": "tls.verify_hostname",
}
# In-line PEM: another way to give what a file key gives. It stays available next to a
# security block (e.g. a CA handed over in an environment variable) unless that file is set.
_INLINE = {
    "ssl.ca.pem": "tls.ca_file",
    "ssl.certificate.pem": "tls.cert_file",
    "ssl.key.pem": "tls.key_file",
}


def check_no_clash(security: KafkaSecurity, properties: Mapping[str, object], where: str) -> None:
    """Raise ValueError naming each property in `properties` (found at `where`, e.g.
    ``kafka.properties``) that `security` decides too."""
    tls = security.tls
    clashes = []
    for key in properties:
        owner = _OWNED.get(key)
        if owner is None and key in _INLINE and tls is not None:
            field = _INLINE[key].removeprefix("tls.")
            if getattr(tls, field) is not None:
                owner = _INLINE[key]
        if owner is not None:
            clashes.append(f"{where}.{key} clashes with kafka.security.{owner}")
    if clashes:
        raise ValueError(
            "; ".join(clashes) + ": set it in one place (kafka.security, which every client uses)"
        )
