"""The `schema_registry:` section and the formats a mapping's records may be in."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bridge.settings import DAY, MASK, ConfigPath, Frozen

# What a value (or key) is on the topic. json: UTF-8 JSON text, no registry. The others carry
# the Confluent framing (magic byte, schema id) and need `schema_registry`.
Format = Literal["json", "avro", "protobuf", "json_schema"]
# A key is text unless the mapping says otherwise (it reads the key with {kafka: key}).
KeyFormat = Literal["string", "json", "avro", "protobuf", "json_schema"]
REGISTRY_FORMATS = frozenset({"avro", "protobuf", "json_schema"})


def _shown(url: str) -> str:
    """`url` with any user and password in it replaced: it goes into an error message."""
    scheme, sep, rest = url.rpartition("//")
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{scheme}{sep}{host}{slash}{path}"


class BasicAuth(Frozen):
    username: str = Field(min_length=1)
    password: SecretStr


class BearerAuth(Frozen):
    """A static bearer token, sent the way confluent-kafka's client sends one: with the
    logical cluster it is for (Confluent Cloud's `lsrc-...`; its client refuses a token
    without one) and, optionally, an identity pool."""

    token: SecretStr
    logical_cluster: str = Field(min_length=1)
    identity_pool_id: str | None = None


class RegistryTls(Frozen):
    # PEM CAs to trust instead of the system's (a private CA in front of the registry).
    ca_file: ConfigPath | None = None
    # Mutual TLS.
    cert_file: ConfigPath | None = None
    key_file: ConfigPath | None = None

    @model_validator(mode="after")
    def _pair(self) -> RegistryTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file go together (mutual TLS)")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"tls.{name}: {str(path)!r} is not a readable file")
        return self


class RegistryConfig(Frozen):
    """Where the writers' schemas are: a Confluent-compatible Schema Registry (Confluent's,
    Apicurio's /apis/ccompat/v7, Redpanda's, Karapace)."""

    # One URL, or several of the same registry (tried in turn).
    url: str | tuple[str, ...]
    basic_auth: BasicAuth | None = None
    bearer: BearerAuth | None = None
    tls: RegistryTls = RegistryTls()
    # One request's timeout; an unanswered request is an outage (records wait, none is lost).
    timeout: float = Field(default=10.0, gt=0, le=300)
    # While the registry is out: the first retry after this, doubling up to the cap.
    retry_initial: float = Field(default=0.5, gt=0, le=DAY)
    retry_max: float = Field(default=30.0, gt=0, le=DAY)

    @field_validator("url")
    @classmethod
    def _urls(cls, url: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for one in (url,) if isinstance(url, str) else url:
            if not one.startswith(("http://", "https://")):
                raise ValueError(f"url {_shown(one)!r}: give an http:// or https:// URL")
            if "@" in one.split("//", 1)[-1].split("/", 1)[0]:
                raise ValueError(
                    f"url {_shown(one)!r}: put credentials in basic_auth, not in the URL "
                    "(they would show wherever the URL does)"
                )
        if not isinstance(url, str) and not url:
            raise ValueError("url: give at least one URL")
        return url

    @model_validator(mode="after")
    def _one_auth(self) -> RegistryConfig:
        if self.basic_auth is not None and self.bearer is not None:
            raise ValueError("give basic_auth or bearer, not both")
        return self

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url,) if isinstance(self.url, str) else self.url

    def redacted(self) -> dict[str, object]:
        """The section as plain data, its secrets masked as every section masks them."""
        data = self.model_dump(mode="json")
        if self.basic_auth is not None:
            data["basic_auth"]["password"] = MASK
        if self.bearer is not None:
            data["bearer"]["token"] = MASK
        return data

    def secrets(self) -> list[str]:
        found = []
        if self.basic_auth is not None:
            found.append(self.basic_auth.password.get_secret_value())
        if self.bearer is not None:
            found.append(self.bearer.token.get_secret_value())
        return [s for s in found if s]
