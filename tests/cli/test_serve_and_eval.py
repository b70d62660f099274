"""`admit serve` refuses unusable setups clearly; `--self-signed` works end to end;
`admit eval` is the data API's twin."""

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.cli.test_check import run
from tests.helpers import SEED, write_bundle
from tests.server.harness import TLS, Client, free_port


def test_serve_without_tls_is_a_usage_error(capsys):
    code, _, err = run(capsys, "serve", SEED)
    assert code == 2
    assert "HTTPS needs --tls-cert and --tls-key (or --self-signed for local use)" in err


def test_serve_with_a_broken_bundle_exits_3(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", {"p.py": "import admit\nx = (\n"})
    code, _, err = run(capsys, "serve", bundle, "--self-signed", "--tls-dir", tmp_path / "tls")
    assert code == 3
    assert "p.py:2: syntax_error" in err


def test_a_port_in_use_is_one_line_and_exit_code_4(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "admit", "serve", str(SEED), "--self-signed", "--tls-dir",
             str(tmp_path / "tls"), "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        taken.close()
    assert result.returncode == 4
    assert result.stderr.splitlines() == [
        f"admit: cannot listen on 127.0.0.1:{port}: Address already in use (is another server "
        "running there? choose another --port)"
    ]


def test_unusable_tls_files_are_one_line_and_exit_code_4(tmp_path):
    (tmp_path / "tls.crt").write_text("not a certificate")
    (tmp_path / "tls.key").write_text("not a key")
    result = subprocess.run(
        [sys.executable, "-m", "admit", "serve", str(SEED), "--tls-cert",
         str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"), "--port",
         str(free_port())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 4
    [line] = result.stderr.splitlines()
    assert line.startswith("admit: the TLS certificate or key cannot be used: ")


def test_serve_self_signed_writes_a_ca_and_says_how_to_call_it(tmp_path):
    port = free_port()
    tls_dir = tmp_path / "tls"
    process = subprocess.Popen(
        [sys.executable, "-m", "admit", "serve", str(SEED), "--self-signed", "--tls-dir",
         str(tls_dir), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--decision-log", "off", "--metrics-dir", str(tmp_path / "m")],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        banner = [process.stderr.readline() for _ in range(3)]
        assert f"on https://127.0.0.1:{port} with 1 workers" in banner[0]  # bound to it alone
        assert f"CA certificate for clients: {tls_dir / 'ca.crt'}" in banner[1]
        assert "curl --cacert" in banner[2]
        tls = TLS(tls_dir / "ca.crt", tls_dir / "tls.crt", tls_dir / "tls.key")
        deadline = time.monotonic() + 15
        while True:
            try:
                with Client(port, tls) as client:
                    answer = client.post(
                        "/validate", (SEED / "reviews" / "pod-bad-tag.json").read_bytes()
                    )
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.json()["response"]["status"]["message"] == (
            "192.168.64.1:5000/nginx:latest tag end with :latest"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        process.stderr.close()
    assert process.returncode == 0


AUTHZ = "import admit\n@admit.decision('httpapi/authz/allow')\ndef allow(input):\n    return input['method'] == 'GET'\n"


@pytest.mark.parametrize(("method", "expected"), [("GET", True), ("POST", False)])
def test_eval_prints_the_decision(capsys, tmp_path, method, expected):
    bundle = write_bundle(tmp_path / "b", {"authz.py": AUTHZ})
    (tmp_path / "in.yaml").write_text(f"method: {method}\n")
    code, out, _ = run(
        capsys, "eval", bundle, "httpapi/authz/allow", "--input", tmp_path / "in.yaml"
    )
    assert code == 0
    assert json.loads(out) == {"result": expected}


def test_eval_of_an_undefined_path_prints_an_empty_object(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", {"authz.py": AUTHZ})
    code, out, _ = run(capsys, "eval", bundle, "nothing/here")
    assert (code, json.loads(out)) == (0, {})


@pytest.mark.parametrize("path", ["data.httpapi.authz.allow", "httpapi/authz/allow", "/httpapi/authz/allow"])
def test_eval_takes_the_path_forms_opa_users_write(capsys, tmp_path, path):
    """`opa eval data.httpapi.authz.allow`: the issue's dotted path answered {} before."""
    bundle = write_bundle(tmp_path / "b", {"authz.py": AUTHZ})
    (tmp_path / "in.json").write_text('{"method": "GET"}')
    code, out, _ = run(capsys, "eval", bundle, path, "-i", tmp_path / "in.json")
    assert (code, json.loads(out)) == (0, {"result": True})


def test_eval_without_input_judges_undefined_input(capsys, tmp_path):
    """Without --input, `input` is undefined as in OPA: the rule reads it as missing (it failed
    with 'NoneType' object is not subscriptable before)."""
    bundle = write_bundle(tmp_path / "b", {"authz.py": AUTHZ, "data.json": '{"roles": ["reader"]}'})
    code, out, _ = run(capsys, "eval", bundle, "data.httpapi.authz.allow")
    assert (code, json.loads(out)) == (0, {"result": False})
    code, out, _ = run(capsys, "eval", bundle, "data")
    assert (code, json.loads(out)) == (0, {"result": {"roles": ["reader"], "httpapi": {"authz": {"allow": False}}}})


def test_eval_of_a_path_with_an_empty_segment_is_a_usage_error(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", {"authz.py": AUTHZ})
    code, _, err = run(capsys, "eval", bundle, "data.httpapi..allow")
    assert code == 2
    assert "has an empty segment" in err


def test_eval_errors_exit_1_with_the_reason(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", {"authz.py": AUTHZ})
    (tmp_path / "in.json").write_text("{}")
    code, _, err = run(capsys, "eval", bundle, "httpapi/authz/allow", "-i", tmp_path / "in.json")
    assert code == 1
    assert "raised KeyError: 'method'" in err


def test_serve_with_required_tests_refuses_a_bundle_whose_tests_fail(capsys, tmp_path):
    rules = (SEED / "trusted_images.py").read_text()
    failing = (
        "cases:\n- name: nginx is allowed\n  resource: {file: pods/bad-repo.yaml}\n"
        "  allowed: true\n"
    )
    bundle = write_bundle(
        tmp_path / "b",
        {
            "trusted_images.py": rules,
            "pods/bad-repo.yaml": (SEED / "pods" / "pod-bad-repo.yaml").read_text(),
            "images_test.yaml": failing,
        },
    )
    code, _, err = run(
        capsys, "serve", bundle, "--self-signed", "--tls-dir", tmp_path / "tls", "--require-tests"
    )
    assert code == 3
    assert "images_test.yaml:2: test_failed: nginx is allowed: decision: allowed expected true" in err
