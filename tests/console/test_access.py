"""The console beyond localhost, on a real `admit serve` (two workers): a token, asked by a login
page or sent as a bearer token, or TLS client certificates; and no way to start a console off
loopback without one of them."""

import datetime as dt
import http.client
import json
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from admit.cli import main
from admit.kube.certs import make_ca, write_pair
from tests.helpers import SEED
from tests.server.harness import free_port, make_tls, start_server

TOKEN = "s3cret-token-of-the-console-0123"


def get(port, path, headers=None, method="GET", body=None, context=None):
    if context is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    else:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=15, context=context)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def wait_until_up(port, server, **options):
    deadline = time.monotonic() + 20
    while True:
        try:
            return get(port, "/api/status", **options)
        except (OSError, ssl.SSLError):
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-token")
    token = tmp / "token"
    token.write_text(TOKEN + "\n")
    port = free_port()
    with start_server(SEED, tmp, "--console-port", str(port), "--console-token-file", str(token), workers=2) as server:  # fmt: skip
        wait_until_up(port, server)
        yield server, port


def test_without_the_token_the_console_shows_only_its_login_page(gated):
    server, port = gated
    assert f"console on http://127.0.0.1:{port} (token required)" in server.stderr()
    status, headers, body = get(port, "/")
    assert status == 401
    assert b"This console needs its token" in body
    assert b'action="/login"' in body
    for path in ("/api/status", "/api/decisions", "/api/policies", "/api/stream", "/static/console.js"):
        status, headers, body = get(port, path)
        assert status == 401, path
        assert json.loads(body)["code"] == "unauthorized"
        assert headers["www-authenticate"] == 'Bearer realm="admit"'
    status, _, _ = get(port, "/api/playground", {"content-type": "application/json"}, "POST", b'{"text": "x"}')
    assert status == 401
    assert get(port, "/static/console.css")[0] == 200  # the login page's style, nothing of ours


def test_the_token_opens_the_console_as_a_bearer_token(gated):
    _, port = gated
    assert get(port, "/api/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert get(port, "/api/status", {"Authorization": "Bearer not-the-token-at-all"})[0] == 401


def test_the_login_page_trades_the_token_for_a_session_cookie(gated):
    _, port = gated
    form = {"content-type": "application/x-www-form-urlencoded"}
    started = time.monotonic()
    status, _, body = get(port, "/login", form, "POST", b"token=guess")
    assert status == 401
    assert b"That is not this console&#x27;s token." in body or b"That is not this console's token." in body
    assert time.monotonic() - started >= 1.0  # guesses are slowed down
    status, headers, _ = get(port, "/login", form, "POST", f"token={TOKEN}".encode())
    assert status == 303
    assert headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # the session is derived from the token, never the token
    session = cookie.split(";")[0]
    assert get(port, "/api/status", {"Cookie": session})[0] == 200
    assert get(port, "/api/status", {"Cookie": "admit_console=forged"})[0] == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::"])
def test_a_console_beyond_loopback_needs_a_token_or_client_certificates(capsys, tmp_path, host):
    with pytest.raises(SystemExit) as exited:
        main(["serve", str(SEED), "--self-signed", "--tls-dir", str(tmp_path), "--console-port", "6060", "--console-host", host])  # fmt: skip
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"a console on {host} would answer anyone who can reach it" in err
    assert "--console-token-file" in err


def test_a_short_token_is_refused_at_start(capsys, tmp_path):
    (tmp_path / "token").write_text("short\n")
    with pytest.raises(SystemExit) as exited:
        main(["serve", str(SEED), "--self-signed", "--tls-dir", str(tmp_path), "--console-port", "6060",
              "--console-host", "0.0.0.0", "--console-token-file", str(tmp_path / "token")])  # fmt: skip
    assert exited.value.code == 2
    assert "is 5 characters; use at least 16" in capsys.readouterr().err


def client_cert(ca, directory):
    """A client certificate (clientAuth) signed by `ca`."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "console-user")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (directory / "client.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "client.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return directory / "client.crt", directory / "client.key"


def test_client_certificates_admit_only_clients_the_ca_signed(tmp_path):
    tls = make_tls(tmp_path)
    clients = make_ca("console-clients")
    client_ca, _ = write_pair(clients, tmp_path / "clients", "ca")
    cert, key = client_cert(clients, tmp_path / "clients")
    stranger, stranger_key = client_cert(make_ca("strangers"), tmp_path)
    port = free_port()
    with start_server(SEED, tmp_path, "--console-port", str(port), "--console-client-ca", str(client_ca), workers=2, tls=tls) as server:  # fmt: skip
        trusted = tls.client_context()
        trusted.load_cert_chain(cert, key)
        status, _, body = wait_until_up(port, server, context=trusted)
        assert status == 200
        assert json.loads(body)["bundle"]["rules"] == 2
        assert f"console on https://127.0.0.1:{port} (client certificates required)" in server.stderr()
        anonymous, signed_elsewhere = tls.client_context(), tls.client_context()
        signed_elsewhere.load_cert_chain(stranger, stranger_key)
        for context in (anonymous, signed_elsewhere):
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                get(port, "/api/status", context=context)
