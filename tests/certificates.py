"""Certificates the tests make for themselves: a throwaway CA and certificates it signs.

TLS tests (Kafka over SSL/SASL_SSL, Gameball over HTTPS) need a server certificate that a
client can be told to trust, and another CA it must refuse. Nothing here is fit for
production: keys are unencrypted and valid for a day.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate and key in memory, and its certificate as a PEM file."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path


@dataclass(frozen=True)
class Leaf:
    """A certificate the CA signed, as PEM files: the certificate (chain: leaf then CA), the
    unencrypted PKCS#8 key, and one file holding both (Kafka's PEM keystore wants that)."""

    cert_file: Path
    key_file: Path
    keystore_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_authority(folder: Path, name: str = "bridge-test-ca") -> Authority:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / f"{name}.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(cert=cert, key=key, cert_file=cert_file)


def issue(
    ca: Authority,
    folder: Path,
    name: str,
    *,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    client: bool = False,
) -> Leaf:
    """A certificate for `hosts` (DNS names or IP addresses), for a server or, with
    `client`, for client authentication (mutual TLS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca.cert.public_bytes(
        serialization.Encoding.PEM
    )
    key_pem = _key_pem(key)
    cert_file, key_file = folder / f"{name}.crt.pem", folder / f"{name}.key.pem"
    keystore_file = folder / f"{name}.keystore.pem"
    cert_file.write_bytes(chain)
    key_file.write_bytes(key_pem)
    keystore_file.write_bytes(key_pem + chain)
    for private in (key_file, keystore_file):
        private.chmod(0o600)
    return Leaf(cert_file=cert_file, key_file=key_file, keystore_file=keystore_file)
