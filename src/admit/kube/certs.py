"""TLS material for the webhook: a private CA and serving certificates, made in-process.

The kube-apiserver calls the webhook over TLS and trusts only the `caBundle` in its
WebhookConfiguration, so `admit` can mint its own CA (for manifests and `admit serve
--self-signed`) instead of shelling out to openssl. Everything here is built with `cryptography`;
nothing is read from or written to disk except by `load_pair`, `write_pair` and `self_signed`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"]
"""Key algorithms that kube-apiserver's Go TLS client accepts (Ed25519 since Go 1.13).

ECDSA P-256 is the default everywhere: fast to make, small, and accepted by FIPS builds of
Go, which refuse Ed25519 certificates. RSA is for clusters whose policy demands it.
"""

_CLOCK_SKEW = dt.timedelta(minutes=5)  # a node whose clock runs behind must still accept the cert


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A PEM certificate and its unencrypted PKCS#8 PEM private key."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def _generate(key_type: KeyType) -> CertificateIssuerPrivateKeyTypes:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise ValueError(f"unknown key type {key_type!r}")


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | hashes.SHA384 | None:
    """The signature hash matching the signing key's strength; Ed25519 takes none."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _pem(cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> KeyPair:
    return KeyPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _check_days(days: int) -> None:
    if days < 1:
        raise ValueError(f"a certificate must be valid for at least 1 day, not {days}")


def _issuer_key(pair: KeyPair) -> CertificateIssuerPrivateKeyTypes:
    key = serialization.load_pem_private_key(pair.key_pem, password=None)
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise ValueError(f"a {type(key).__name__} cannot sign certificates")
    return key


def make_ca(
    common_name: str = "admit-ca", *, key_type: KeyType = "ecdsa-p256", days: int = 3650
) -> KeyPair:
    """A self-signed CA that may sign serving certificates but no further CAs."""
    _check_days(days)
    key = _generate(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _hash_for(key))
    )
    return _pem(cert, key)


def _san(name: str) -> x509.GeneralName:
    """An IP address SAN for an address, a DNS SAN otherwise (Go ignores the CN entirely)."""
    if not name:
        raise ValueError("a certificate name must not be empty")
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)  # raises ValueError itself for non-ASCII (IDNA U-label) names


def make_serving_cert(
    ca: KeyPair, names: Sequence[str], *, key_type: KeyType = "ecdsa-p256", days: int = 365
) -> KeyPair:
    """A server certificate for `names` (DNS names and IP addresses), signed by `ca`."""
    if isinstance(names, str) or not names:
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    _check_days(days)
    sans = [_san(name) for name in dict.fromkeys(names)]
    ca_cert, ca_key = ca.certificate, _issuer_key(ca)
    key = _generate(key_type)
    now = dt.datetime.now(dt.UTC)
    # A leaf outliving its CA would only fail later and more confusingly.
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    if not_after <= now:
        raise ValueError(f"the CA {ca_cert.subject.rfc4514_string()} has expired")
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:  # a CA made elsewhere, without the extension
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    # A CN holds at most 64 characters; a longer first name lives in the SANs only, which then
    # must be critical (RFC 5280 4.2.1.6). TLS clients match SANs and ignore the CN anyway.
    cn = [x509.NameAttribute(NameOID.COMMON_NAME, names[0])] if len(names[0]) <= 64 else []
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=not cn)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # Only RSA key exchange (TLS 1.2) encrypts to the server's key.
            _key_usage(digital_signature=True, key_encipherment=is_rsa),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(aki, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, _hash_for(ca_key))
    )
    return _pem(cert, key)


def service_names(service: str, namespace: str) -> list[str]:
    """The names a Service answers to; the first is what `clientConfig.service` dials."""
    return [
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        f"{service}.{namespace}",
        service,
    ]


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_pair(cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> KeyPair:
    """Read a PEM certificate and its PEM private key, refusing files that do not belong together.

    The check happens here, where the file names are known, rather than as an opaque
    `ssl.SSLError` when a server later loads the pair.
    """
    cert_pem, key_pem = Path(cert_path).read_bytes(), Path(key_path).read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ValueError(f"{os.fspath(cert_path)}: not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # TypeError: the key is encrypted; a server started unattended has no passphrase.
        raise ValueError(f"{os.fspath(key_path)}: not an unencrypted PEM private key") from None
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise ValueError(
            f"{os.fspath(key_path)}: the private key does not match the certificate "
            f"{os.fspath(cert_path)}"
        )
    return KeyPair(cert_pem, key_pem)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write via a private temporary file and a rename, so a reloading server never reads half."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # an old temporary file keeps its mode through O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_pair(pair: KeyPair, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write `<stem>.crt` and `<stem>.key` (owner-only) into `directory`, creating it."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    _write(key_path, pair.key_pem, 0o600)
    _write(cert_path, pair.cert_pem, 0o644)
    return cert_path, key_path


def self_signed(directory: Path, names: Sequence[str]) -> tuple[Path, Path, Path]:
    """TLS files for `admit serve --self-signed`: (ca.crt, tls.crt, tls.key).

    The CA in `directory` is kept across runs, so a client told to trust `ca.crt` once keeps
    trusting restarts; the serving certificate is made fresh each time, for the current names.
    """
    ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
    if ca_cert.is_file() and ca_key.is_file():
        ca = load_pair(ca_cert, ca_key)
    else:
        ca = make_ca()
        write_pair(ca, directory, "ca")
    tls_cert, tls_key = write_pair(make_serving_cert(ca, names), directory, "tls")
    return ca_cert, tls_cert, tls_key


def fingerprint(cert_pem: bytes) -> str:
    """The SHA-256 of the certificate's DER, in hex: as `openssl x509 -fingerprint -sha256`
    shows it, in lower case and without colons."""
    return x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256()).hex()
