"""`admit serve`'s settings: every option is a typed field of `ServeSettings`, read from the
command line, then its ADMIT_* variable, then a --settings YAML file, then the default."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from admit.cli.flags import build
from admit.cli.serve import serve, server_config
from admit.cli.serve_settings import ServeSettings
from tests.cli.test_check import run
from tests.helpers import SEED
from tests.server.harness import Client, free_port, make_tls

# The variables `admit serve` read before its settings were one typed value: they keep their names.
DOCUMENTED_VARIABLES = {
    "ADMIT_HOST", "ADMIT_PORT", "ADMIT_TLS_CERT", "ADMIT_TLS_KEY", "ADMIT_WORKERS",
    "ADMIT_RULE_TIMEOUT", "ADMIT_MESSAGE_FORMAT", "ADMIT_MAX_BODY", "ADMIT_WATCH",
    "ADMIT_CONFIGMAPS", "ADMIT_KUBECONFIG", "ADMIT_HANDSHAKE_TIMEOUT", "ADMIT_CLIENT_TIMEOUT",
    "ADMIT_KEEPALIVE_TIMEOUT", "ADMIT_MAX_CONNECTIONS", "ADMIT_DRAIN_TIMEOUT",
    "ADMIT_DECISION_LOG", "ADMIT_METRICS_DIR", "ADMIT_CONSOLE_PORT", "ADMIT_CONSOLE_HOST",
    "ADMIT_CONSOLE_TOKEN_FILE", "ADMIT_CONSOLE_CLIENT_CA", "ADMIT_CONSOLE_TLS", "ADMIT_STATE_DIR",
    "ADMIT_LOAD_TIMEOUT", "ADMIT_REQUIRE_TESTS", "ADMIT_AUDIT_INTERVAL", "ADMIT_REPORT_API",
    "ADMIT_AUDIT_LEASE_DURATION", "ADMIT_CONSOLE_ALLOWED_HOSTS", "ADMIT_LOG_LEVEL",
    "ADMIT_DEFAULT_DECISION", "ADMIT_DECISION_LOG_INPUT", "ADMIT_DECISION_LOG_URL",
    "ADMIT_DECISION_LOG_TOKEN_FILE", "ADMIT_BUNDLE_URL", "ADMIT_BUNDLE_TOKEN_FILE",
    "ADMIT_VERIFICATION_KEY",
}  # fmt: skip


@pytest.fixture(autouse=True)
def no_admit_variables(monkeypatch):
    for name in os.environ:
        if name.startswith("ADMIT_"):
            monkeypatch.delenv(name)


def parsed(*args) -> ServeSettings:
    """The settings `admit serve ARGS` would run with (parsed, not run)."""
    ctx = serve.make_context("serve", [str(a) for a in args])
    return build(ServeSettings, ctx.params)


def test_without_options_the_settings_are_the_dataclass_defaults():
    assert parsed() == ServeSettings()


def test_every_option_reads_its_own_admit_variable_and_the_documented_ones_keep_their_names():
    variables = [p.envvar for p in serve.params if isinstance(p, click.Option)]
    assert all(isinstance(v, str) and v.startswith("ADMIT_") for v in variables), variables
    assert len(set(variables)) == len(variables)
    assert set(variables) >= DOCUMENTED_VARIABLES


def test_the_command_line_wins_over_the_environment_over_the_file_over_the_defaults(
    tmp_path, monkeypatch
):
    settings = tmp_path / "serve.yaml"
    settings.write_text("port: 1111\nworkers: 3\nsan: [a.example, b.example]\nwatch: false\n")
    monkeypatch.setenv("ADMIT_PORT", "2222")
    assert parsed("--settings", settings, "--port", "3333").server.port == 3333
    from_env = parsed("--settings", settings)
    assert from_env.server.port == 2222
    assert from_env.server.workers == 3
    assert from_env.tls.sans == ("a.example", "b.example")
    assert from_env.policies.watch is False
    monkeypatch.delenv("ADMIT_PORT")
    assert parsed("--settings", settings).server.port == 1111
    monkeypatch.setenv("ADMIT_SETTINGS", str(settings))
    assert parsed().server.port == 1111
    monkeypatch.delenv("ADMIT_SETTINGS")
    assert parsed().server.port == 8443


def test_variables_of_repeatable_options_and_flags_are_read_as_the_command_line_is(monkeypatch):
    monkeypatch.setenv("ADMIT_SAN", "a.example b.example")
    monkeypatch.setenv("ADMIT_DECISION_LOG_DELAY", "1 2")
    monkeypatch.setenv("ADMIT_SELF_SIGNED", "1")
    monkeypatch.setenv("ADMIT_LABEL", "team=platform region=eu")
    monkeypatch.setenv("ADMIT_TLS_DIR", "certs")
    settings = parsed()
    assert settings.tls.sans == ("a.example", "b.example")
    assert settings.decision_log.delay == (1.0, 2.0)
    assert settings.tls.self_signed is True
    assert settings.decision_log.labels == (("team", "platform"), ("region", "eu"))
    assert settings.tls.directory == Path("certs")


def test_an_unknown_settings_key_is_a_usage_error_naming_its_line_and_the_close_name(
    capsys, tmp_path
):
    settings = tmp_path / "serve.yaml"
    settings.write_text("port: 8443\nprot: 9443\n")
    code, _, err = run(capsys, "serve", "--settings", settings)
    assert code == 2
    assert f"{settings}:2: unknown setting 'prot' (did you mean port?)" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: [1, 2]\n", ":1: port: expected a single value, not a list"),
        ("tls-cert: a.crt\nsan: a.example\n", ":2: san: expected a list"),
        ("decision-log: off\n", ":1: decision-log: false is a boolean in YAML; quote the text meant"),
        ("tls:\n  cert: a.crt\n", ":1: unknown setting 'tls'"),
        ("- port\n", "settings are a mapping of option names to values"),
        ("port: [\n", "not YAML"),
    ],
)
def test_a_settings_file_of_the_wrong_shape_is_a_usage_error(capsys, tmp_path, text, message):
    settings = tmp_path / "serve.yaml"
    settings.write_text(text)
    code, _, err = run(capsys, "serve", "--settings", settings)
    assert code == 2
    assert message in err


def test_settings_file_values_are_checked_as_the_options_are(capsys, tmp_path):
    settings = tmp_path / "serve.yaml"
    settings.write_text("port: 70000\nreport-api: openreport\ndecision-log-delay: [1]\n")
    code, _, err = run(capsys, "serve", "--settings", settings)
    assert code == 2
    assert f"{settings}:1: port: 70000 is not in the range 1<=x<=65535" in err
    assert f"{settings}:2: report-api: 'openreport' is not one of 'openreports', 'wgpolicyk8s'" in err
    assert f"{settings}:3: decision-log-delay: 2 values are required, but 1 was given" in err


def test_help_lists_the_options_by_section_each_with_its_variable(capsys):
    code, out, _ = run(capsys, "serve", "--help")
    assert code == 0
    titles = [line for line in out.splitlines() if line and not line[0].isspace()]
    assert titles[1:] == [
        "Server:", "TLS:", "Policies:", "Bundle server:", "Evaluation:", "Connections:",
        "Decision log:", "Console:", "Cluster:", "Audit:", "Options:",
    ]  # fmt: skip
    options = [p for p in serve.params if isinstance(p, click.Option)]
    assert " ".join(out.split()).count("[env var: ADMIT_") == len(options)


def test_the_settings_map_onto_the_servers_own_config(tmp_path):
    settings = parsed(
        SEED, "--port", "9443", "--workers", "3", "--max-body", "2048", "--keepalive-timeout",
        "50", "--decision-log", "off", "--rule-timeout", "0.5", "--default-decision", "a/b",
    )  # fmt: skip
    config = server_config(
        settings, tmp_path / "tls.crt", tmp_path / "tls.key", events=settings.decision_log.events(),
        upload=None, metrics_dir=tmp_path, feed_socket=None, run_dir=tmp_path,
    )  # fmt: skip
    assert (config.port, config.workers, config.max_body, config.keepalive_timeout) == (
        9443, 3, 2048, 50,
    )  # fmt: skip
    assert (config.decision_log, config.rule_timeout, config.default_decision) == (None, 0.5, "a/b")


def test_serve_runs_from_a_settings_file_with_the_environment_over_it(tmp_path):
    tls, port = make_tls(tmp_path), free_port()
    settings = tmp_path / "serve.yaml"
    settings.write_text(yaml.safe_dump({
        "bundle": str(SEED), "host": "127.0.0.1", "port": port, "tls-cert": str(tls.cert),
        "tls-key": str(tls.key), "workers": 1, "decision-log": "off",
        "metrics-dir": str(tmp_path / "metrics"),
    }))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADMIT_")}
    env |= {"ADMIT_SETTINGS": str(settings), "ADMIT_WORKERS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "admit", "serve"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        banner = process.stderr.readline()
        assert f"on https://127.0.0.1:{port} with 2 workers" in banner, banner
        with Client(port, tls) as client:
            answer = client.post("/validate", (SEED / "reviews" / "pod-bad-tag.json").read_bytes())
        assert answer.json()["response"]["status"]["message"] == (
            "192.168.64.1:5000/nginx:latest tag end with :latest"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        process.stderr.close()
    assert process.returncode == 0
