"""`admit serve`: the admission webhook over HTTPS, and `admit eval`, its data API twin."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from admit.core.engine import PolicySet, query
from admit.core.errors import InputError
from admit.loading.loader import load_bundle

MiB = 1024 * 1024


def _metrics_dir(given: Path | None) -> Path:
    """A clean directory where the workers publish their metrics for /metrics."""
    directory = given or Path(tempfile.mkdtemp(prefix="admit-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("worker-*.json"):
        stale.unlink()
    return directory


def _self_signed(directory: Path, host: str, extra: tuple[str, ...]) -> tuple[Path, Path, Path]:
    from admit.kube.certs import self_signed

    names = ["localhost", "127.0.0.1", "::1"]
    if host not in ("0.0.0.0", "::", *names):
        names.append(host)
    return self_signed(directory, [*names, *extra])


@click.command()
@click.argument("bundle", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--host",
    default="0.0.0.0",
    show_default=True,
    envvar="ADMIT_HOST",
    show_envvar=True,
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8443,
    show_default=True,
    envvar="ADMIT_PORT",
    show_envvar=True,
    help="HTTPS port.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ADMIT_TLS_CERT",
    show_envvar=True,
    help="Serving certificate (PEM); reloaded when it changes.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ADMIT_TLS_KEY",
    show_envvar=True,
    help="Its private key (PEM).",
)
@click.option(
    "--self-signed",
    is_flag=True,
    help="For local use: make a CA and a serving certificate in --tls-dir.",
)
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="admit-tls",
    show_default=True,
    help="Where --self-signed keeps ca.crt, tls.crt and tls.key.",
)
@click.option("--san", "sans", multiple=True, help="Extra DNS name or IP for --self-signed.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    envvar="ADMIT_WORKERS",
    show_envvar=True,
    help="Worker processes on the port  [default: CPU count]",
)
@click.option(
    "--rule-timeout",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    envvar="ADMIT_RULE_TIMEOUT",
    show_envvar=True,
    help="Seconds a request's rules may run; past it the running rule errors (0: off).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024),
    default=4 * MiB,
    show_default=True,
    envvar="ADMIT_MAX_BODY",
    show_envvar=True,
    help="Largest request body in bytes.",
)
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    envvar="ADMIT_WATCH",
    help="Reload the bundle when its files change (a broken change keeps the last good one).",
)
@click.option(
    "--configmaps",
    "configmap_selector",
    default=None,
    envvar="ADMIT_CONFIGMAPS",
    help="Serve the bundles in ConfigMaps matching this label selector instead of BUNDLE; "
    "each load's outcome is written back as the annotation admit.dev/status.",
)
@click.option(
    "--configmap-namespace",
    "configmap_namespaces",
    multiple=True,
    help="Namespace to watch for --configmaps (repeatable)  [default: $POD_NAMESPACE or default]",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_KUBECONFIG",
    help="Cluster access for the cache of kinds rules read (default: in-cluster, then ~/.kube).",
)
@click.option(
    "--cluster-cache/--no-cluster-cache",
    default=True,
    show_default=True,
    help="Cache the kinds rules read (reads=) from the cluster; off: request.cluster is empty.",
)
@click.option(
    "--handshake-timeout",
    type=click.FloatRange(0.1),
    default=5.0,
    show_default=True,
    envvar="ADMIT_HANDSHAKE_TIMEOUT",
    help="Seconds from a new connection to its completed TLS handshake (also the longest a "
    "TLS close waits for the client).",
)
@click.option(
    "--client-timeout",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    envvar="ADMIT_CLIENT_TIMEOUT",
    help="Seconds a client may take to send a whole request: from the handshake (or, on a "
    "kept-alive connection, the request's first byte) to its last byte.",
)
@click.option(
    "--keepalive-timeout",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    envvar="ADMIT_KEEPALIVE_TIMEOUT",
    help="Seconds an idle kept-alive connection stays open (kube-apiserver closes its own "
    "after 90 s).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1),
    default=1024,
    show_default=True,
    envvar="ADMIT_MAX_CONNECTIONS",
    help="Connections per worker, counting handshaking, idle and busy ones. At the limit an "
    "idle one is closed for a new one (silent ones first); a new one is refused only when all "
    "are busy with a request.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(0),
    default=25.0,
    show_default=True,
    envvar="ADMIT_DRAIN_TIMEOUT",
    help="On SIGTERM, seconds to let in-flight requests finish.",
)
@click.option(
    "--decision-log",
    default="-",
    show_default=True,
    envvar="ADMIT_DECISION_LOG",
    show_envvar=True,
    help="File for JSON-lines decisions; - for stdout, off for none.",
)
@click.option(
    "--metrics-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_METRICS_DIR",
    help="Scratch directory for multi-process metrics.",
)
@click.option(
    "--console-port",
    type=click.IntRange(1, 65535),
    default=None,
    envvar="ADMIT_CONSOLE_PORT",
    show_envvar=True,
    help="Serve the read-only web console (policies, live decisions, playground) on this port.",
)
@click.option(
    "--console-host",
    default="127.0.0.1",
    show_default=True,
    envvar="ADMIT_CONSOLE_HOST",
    help="Address of the console (plain HTTP, no authentication: keep it local).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    envvar="ADMIT_LOG_LEVEL",
)
def serve(
    bundle: Path | None,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    self_signed: bool,
    tls_dir: Path,
    sans: tuple[str, ...],
    workers: int | None,
    rule_timeout: float,
    max_body: int,
    watch: bool,
    configmap_selector: str | None,
    configmap_namespaces: tuple[str, ...],
    kubeconfig: Path | None,
    cluster_cache: bool,
    handshake_timeout: float,
    client_timeout: float,
    keepalive_timeout: int,
    max_connections: int,
    drain_timeout: float,
    decision_log: str,
    metrics_dir: Path | None,
    console_port: int | None,
    console_host: str,
    log_level: str,
) -> int:
    """Serve the rules in BUNDLE as a Kubernetes admission webhook over HTTPS.

    \b
    Endpoints:
      POST /validate, /mutate      AdmissionReview admission.k8s.io/v1 and v1beta1
      GET|POST /v1/data/{path}     OPA-compatible decisions of @admit.decision rules
      GET /healthz, /readyz        liveness; readiness with the bundle's digest
      GET /metrics                 Prometheus metrics (admit_*)
    With --console-port, a read-only web console on http://127.0.0.1:PORT.

    \b
    Local try-out:
      admit serve examples/seed --self-signed --port 8443
      curl --cacert admit-tls/ca.crt -H 'Content-Type: application/json' \\
           --data-binary @examples/seed/reviews/pod-bad-tag.json https://127.0.0.1:8443/validate
    """
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if self_signed and (tls_cert or tls_key):
        raise click.UsageError("give either --self-signed or --tls-cert/--tls-key, not both")
    if not self_signed and not (tls_cert and tls_key):
        raise click.UsageError(
            "HTTPS needs --tls-cert and --tls-key (or --self-signed for local use)"
        )
    if (bundle is None) == (configmap_selector is None):
        raise click.UsageError("serve a BUNDLE directory or --configmaps SELECTOR (one of them)")
    source, policy_set, what = _policy_source(
        bundle, watch, configmap_selector, configmap_namespaces, kubeconfig
    )
    ca = None
    if self_signed:
        ca, tls_cert, tls_key = _self_signed(tls_dir, host, sans)
    assert tls_cert is not None
    assert tls_key is not None
    metrics_dir = _metrics_dir(metrics_dir)
    from admit.server.config import ServerConfig
    from admit.server.supervisor import Supervisor

    config = ServerConfig(
        tls_cert=tls_cert,
        tls_key=tls_key,
        host=host,
        port=port,
        workers=workers or os.cpu_count() or 1,
        rule_timeout=rule_timeout,
        max_body=max_body,
        handshake_timeout=handshake_timeout,
        client_timeout=client_timeout,
        keepalive_timeout=keepalive_timeout,
        max_connections=max_connections,
        drain_timeout=drain_timeout,
        decision_log=None if decision_log == "off" else decision_log,
        metrics_dir=metrics_dir,
        feed_socket=_feed_socket() if console_port else None,
    )
    config.ssl_context()  # fail now, with a clear message, if the TLS files do not load
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"https://{shown}:{port}"
    click.echo(f"admit: serving {what} on {url} with {config.workers} workers", err=True)
    if ca is not None:
        click.echo(f"admit: CA certificate for clients: {ca}", err=True)
        example = bundle / "reviews" if bundle is not None else None
        review = (
            next(iter(sorted(example.glob("*.json"))), None)
            if example is not None and example.is_dir()
            else None
        )
        if review is not None:
            click.echo(
                f"admit: try  curl --cacert {ca} -H 'Content-Type: application/json' "
                f"--data-binary @{review} {url}/validate",
                err=True,
            )
    console = _console(config, source, console_host, console_port, url) if console_port else None
    cluster = _cluster_factory(policy_set, kubeconfig) if cluster_cache else None
    try:
        return Supervisor(config, source, cluster_factory=cluster, console=console).run()
    finally:
        if config.feed_socket is not None:
            shutil.rmtree(config.feed_socket.parent, ignore_errors=True)


def _feed_socket() -> Path:
    """A private directory for the console's decision feed socket (short: UNIX path limit)."""
    return Path(tempfile.mkdtemp(prefix="admit-console-")) / "feed.sock"


def _console(config: Any, source: Any, host: str, port: int, webhook_url: str) -> Any:
    """What the supervisor runs in the console process; its port is bound now, so a taken port
    is a usage error at start rather than a console that keeps dying."""
    from admit.console.process import console_socket, run_console

    try:
        sock = console_socket(host, port)
    except OSError as exc:
        raise click.UsageError(f"the console cannot listen on {host}:{port}: {exc}") from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    click.echo(f"admit: console on http://{shown}:{port}", err=True)
    return functools.partial(run_console, config, source, sock, webhook_url)


def _policy_source(
    bundle: Path | None,
    watch: bool,
    selector: str | None,
    namespaces: tuple[str, ...],
    kubeconfig: Path | None,
) -> tuple[Any, PolicySet, str]:
    """(policy source, the set loaded now, a description) for a directory or ConfigMaps."""
    if bundle is not None:
        from admit.loading.reload import BundleWatcher
        from admit.server.policies import FixedPolicies

        policy_set = load_bundle(bundle)
        what = f"{bundle} ({len(policy_set.rules)} rules, digest {policy_set.digest[:12]})"
        if watch:
            return BundleWatcher(bundle, policy_set), policy_set, what
        return FixedPolicies(policy_set), policy_set, what
    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.sources import ConfigMapSource

    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        raise click.UsageError(f"--configmaps needs cluster access, but {exc}") from None
    watched = list(namespaces) or [os.environ.get("POD_NAMESPACE") or "default"]
    what = f"the ConfigMaps {selector} in {', '.join(watched)} of {server}"
    source = ConfigMapSource(functools.partial(connect, kubeconfig), watched, selector or "")
    return source, PolicySet([]), what


def _cluster_factory(policy_set: PolicySet, kubeconfig: Path | None) -> Any:
    """A factory of cluster caches for the workers, or None when no rule reads the cluster and
    no cluster is configured. Rules that read a cluster we cannot reach are a usage error."""
    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.cluster_cache import ClusterCache, watchable

    problems = [p for p in (watchable(kind) for kind in policy_set.reads) if p]
    if problems:
        raise click.UsageError("; ".join(problems))
    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        if not policy_set.reads:
            return None
        kinds = ", ".join(str(k) for k in policy_set.reads)
        raise click.UsageError(
            f"rules read {kinds} from the cluster, but {exc}; give --kubeconfig, run in a "
            "cluster, or pass --no-cluster-cache to serve them an empty cache"
        ) from None
    click.echo(f"admit: caching the kinds rules read from {server}", err=True)
    return functools.partial(ClusterCache, functools.partial(connect, kubeconfig))


def _read_input(path: str) -> Any:
    import yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"neither JSON nor YAML: {exc}", path=path) from None


@click.command("eval")
@click.argument("bundle", type=click.Path(file_okay=False, path_type=Path))
@click.argument("path")
@click.option(
    "-i",
    "--input",
    "input_path",
    default=None,
    help="The input document (JSON or YAML file, - for stdin).",
)
def eval_command(bundle: Path, path: str, input_path: str | None) -> int:
    """Evaluate the decision at PATH (like POST /v1/data/PATH) and print {"result": ...}.

    \b
    Example:
      admit eval policies/ httpapi/authz/allow --input request.json

    Prints {} when PATH is undefined. Exit codes: 0 evaluated, 1 the decision raised,
    2 usage or unreadable input, 3 the bundle failed to load.
    """
    policy_set = load_bundle(bundle)
    document = _read_input(input_path) if input_path else None
    defined, value = query(policy_set, path, document)
    click.echo(json.dumps({"result": value} if defined else {}, indent=2))
    return 0
