"""Certificates: a private CA and serving certificates that real TLS clients accept."""

import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from admit.kube.certs import (
    KeyPair,
    fingerprint,
    load_pair,
    make_ca,
    make_serving_cert,
    self_signed,
    service_names,
    write_pair,
)

NAMES = service_names("admit", "pipy")


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return make_ca()


@pytest.fixture(scope="module")
def serving(ca: KeyPair) -> KeyPair:
    return make_serving_cert(ca, NAMES)


def verify(ca: KeyPair, leaf: KeyPair, name: DNSName | IPAddress) -> None:
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(name)
    verifier.verify(leaf.certificate, [])


def serve_once(pair: KeyPair, directory: Path) -> tuple[int, threading.Thread]:
    """A TLS server on an ephemeral port that answers one connection with b"ok"."""
    cert, key = write_pair(pair, directory, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def answer() -> None:
        with listener:
            raw, _ = listener.accept()
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass  # the client refused us: that is the client's test to assert

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def fetch(port: int, cafile: Path, hostname: str) -> tuple[str | None, bytes]:
    context = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as conn,
    ):
        return conn.version(), conn.recv(16)


def handshake(
    ca: KeyPair, leaf: KeyPair, tmp_path: Path, hostname: str
) -> tuple[str | None, bytes]:
    cafile, _ = write_pair(ca, tmp_path / "client", "ca")
    port, thread = serve_once(leaf, tmp_path / "server")
    try:
        return fetch(port, cafile, hostname)
    finally:
        thread.join(5)


def test_service_names_put_the_name_clientconfig_dials_first():
    assert service_names("admit", "pipy") == [
        "admit.pipy.svc",
        "admit.pipy.svc.cluster.local",
        "admit.pipy",
        "admit",
    ]


def test_the_serving_cert_verifies_against_its_ca_for_the_service_name(ca, serving):
    verify(ca, serving, DNSName("admit.pipy.svc"))
    verify(ca, serving, DNSName("admit.pipy.svc.cluster.local"))


def test_the_serving_cert_does_not_verify_for_another_name(ca, serving):
    with pytest.raises(VerificationError):
        verify(ca, serving, DNSName("other.pipy.svc"))


def test_the_serving_cert_does_not_verify_against_another_ca(serving):
    with pytest.raises(VerificationError):
        verify(make_ca(), serving, DNSName("admit.pipy.svc"))


def test_the_ca_is_a_critical_pathlen_0_ca_that_signs_certs_and_crls(ca):
    extensions = ca.certificate.extensions
    constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    assert ca.certificate.issuer == ca.certificate.subject


def test_the_serving_cert_is_a_server_auth_leaf_named_after_its_first_name(ca, serving):
    cert = serving.certificate
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert [a.value for a in cn] == ["admit.pipy.svc"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).critical
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_encipherment  # ECDSA keys never encrypt
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.ExtendedKeyUsageOID.SERVER_AUTH]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_the_serving_cert_tolerates_five_minutes_of_clock_skew(serving):
    cert = serving.certificate
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days == 365
    assert lifetime.seconds == 5 * 60


def test_ip_addresses_become_ip_sans(ca):
    leaf = make_serving_cert(ca, ["localhost", "127.0.0.1", "::1"])
    san = leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    verify(ca, leaf, IPAddress(ipaddress.ip_address("127.0.0.1")))


def test_a_name_too_long_for_a_common_name_lives_in_critical_sans_only(ca):
    name = f"{'a' * 40}.{'b' * 40}.svc"
    leaf = make_serving_cert(ca, [name])
    assert len(leaf.certificate.subject) == 0
    assert leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    verify(ca, leaf, DNSName(name))


def test_a_real_tls_client_trusting_the_ca_accepts_the_server_by_ip_and_by_name(ca, tmp_path):
    leaf = make_serving_cert(ca, ["localhost", "127.0.0.1"])
    for hostname in ("127.0.0.1", "localhost"):
        version, data = handshake(ca, leaf, tmp_path / hostname, hostname)
        assert version in ("TLSv1.2", "TLSv1.3")
        assert data == b"ok"


def test_a_real_tls_client_trusting_another_ca_refuses_the_server(ca, tmp_path):
    leaf = make_serving_cert(ca, ["localhost", "127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(make_ca(), leaf, tmp_path, "127.0.0.1")


# Each key type serves once, signed by a CA of another type. RSA-4096 is slow to generate, so it
# is made once, as a serving key: as a CA it would take the same path as RSA-2048 and RSA-3072.
@pytest.mark.parametrize(
    ("ca_type", "leaf_type"),
    [
        ("ed25519", "ecdsa-p256"),
        ("ecdsa-p256", "ecdsa-p384"),
        ("ecdsa-p384", "rsa-2048"),
        ("rsa-2048", "rsa-3072"),
        ("rsa-3072", "rsa-4096"),
        ("ecdsa-p256", "ed25519"),
    ],
)
def test_every_key_type_makes_a_working_pair(ca_type, leaf_type, tmp_path):
    ca = make_ca(key_type=ca_type)
    leaf = make_serving_cert(ca, ["127.0.0.1"], key_type=leaf_type)
    leaf.certificate.verify_directly_issued_by(ca.certificate)
    usage = leaf.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment == leaf_type.startswith("rsa-")
    assert handshake(ca, leaf, tmp_path, "127.0.0.1")[1] == b"ok"


def test_an_ed25519_ca_is_self_signed_and_valid(tmp_path):
    ca = make_ca(key_type="ed25519")
    ca.certificate.verify_directly_issued_by(ca.certificate)
    assert load_pair(*write_pair(ca, tmp_path, "ca")) == ca


def test_write_pair_creates_the_directory_and_keeps_the_key_private(serving, tmp_path):
    cert, key = write_pair(serving, tmp_path / "new" / "dir", "tls")
    assert (cert.name, key.name) == ("tls.crt", "tls.key")
    assert key.stat().st_mode & 0o777 == 0o600
    assert load_pair(cert, key) == serving


def test_self_signed_reuses_the_ca_and_makes_a_fresh_serving_cert(tmp_path):
    ca_cert, tls_cert, tls_key = self_signed(tmp_path, ["localhost", "127.0.0.1"])
    assert (ca_cert, tls_cert, tls_key) == (
        tmp_path / "ca.crt",
        tmp_path / "tls.crt",
        tmp_path / "tls.key",
    )
    first_ca, first_leaf = fingerprint(ca_cert.read_bytes()), fingerprint(tls_cert.read_bytes())

    self_signed(tmp_path, ["localhost", "127.0.0.1"])

    assert fingerprint(ca_cert.read_bytes()) == first_ca
    assert fingerprint(tls_cert.read_bytes()) != first_leaf
    assert tls_key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    ca, leaf = load_pair(ca_cert, tmp_path / "ca.key"), load_pair(tls_cert, tls_key)
    verify(ca, leaf, IPAddress(ipaddress.ip_address("127.0.0.1")))


def test_fingerprint_is_the_sha256_of_the_der(serving):
    der = serving.certificate.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert fingerprint(serving.cert_pem) == digest.finalize().hex()


def test_load_pair_names_a_file_that_is_not_a_pem_certificate(serving, tmp_path):
    cert, key = write_pair(serving, tmp_path, "tls")
    cert.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"tls\.crt: not a PEM certificate"):
        load_pair(cert, key)


def test_load_pair_names_a_file_that_is_not_a_pem_key(serving, tmp_path):
    cert, key = write_pair(serving, tmp_path, "tls")
    key.write_bytes(serving.cert_pem)
    with pytest.raises(ValueError, match=r"tls\.key: not an unencrypted PEM private key"):
        load_pair(cert, key)


def test_load_pair_names_a_key_that_does_not_match_the_certificate(ca, serving, tmp_path):
    cert, _ = write_pair(serving, tmp_path, "tls")
    _, other_key = write_pair(make_serving_cert(ca, NAMES), tmp_path, "other")
    with pytest.raises(ValueError, match=r"other\.key: the private key does not match") as info:
        load_pair(cert, other_key)
    assert str(cert) in str(info.value)


@pytest.mark.parametrize("names", [[], (), "admit.pipy.svc"])
def test_a_serving_cert_needs_at_least_one_name(ca, names):
    with pytest.raises(ValueError, match="at least one DNS name or IP address"):
        make_serving_cert(ca, names)


def test_an_empty_name_is_refused(ca):
    with pytest.raises(ValueError, match="must not be empty"):
        make_serving_cert(ca, ["admit.pipy.svc", ""])


@pytest.mark.parametrize("days", [0, -1])
def test_a_certificate_lives_at_least_one_day(ca, days):
    with pytest.raises(ValueError, match="valid for at least 1 day"):
        make_serving_cert(ca, NAMES, days=days)
    with pytest.raises(ValueError, match="valid for at least 1 day"):
        make_ca(days=days)


def test_a_serving_cert_never_outlives_its_ca():
    ca = make_ca(days=30)
    leaf = make_serving_cert(ca, NAMES, days=365)
    assert leaf.certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc
