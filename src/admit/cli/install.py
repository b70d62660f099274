"""`admit manifests` and `admit uninstall` (and `admit certs`, from admit.cli.certs): installing
admit on Kubernetes.

Thin commands: they read files, then hand over to `admit.kube` (what to render is
`build_manifests`, how certificates are made is `admit.kube.certs`). Mistakes that would only
show in the cluster, as a webhook every write fails on, are refused here with exit code 2.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any, cast

import click
import yaml

from admit.cli.certs import FILE, certs, names_checked, read_cert, read_pair
from admit.cli.options import BUNDLE, BUNDLE_HELP, overrides_options
from admit.core.errors import InputError
from admit.kube import chart
from admit.kube.certs import KeyPair, fingerprint, make_ca, make_serving_cert, service_names
from admit.kube.install import DEFAULT_IMAGE, InstallOptions, build_manifests, bundle_files
from admit.kube.options import MAX_TIMEOUT_SECONDS, FailurePolicy, cluster_name
from admit.loading.loader import load_bundle
from admit.loading.overrides import Overrides, merge_layers
from admit.loading.yamlfile import load_one


class _Dumper(yaml.SafeDumper):
    """YAML that reads like hand-written manifests: multi-line text (bundle files) as blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_Dumper.add_representer(str, _text)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """Multi-document YAML, one object per document, keys in the order they were built."""
    return yaml.dump_all(
        objects, Dumper=_Dumper, sort_keys=False, explicit_start=True, allow_unicode=True
    )


def _certificates(
    *,
    namespace: str,
    service: str,
    sans: tuple[str, ...],
    webhook_url: str | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> tuple[KeyPair, KeyPair | None]:
    """The CA and serving pair to render: given ones, or fresh ones where that is safe."""
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give --tls-cert and --tls-key together")
    if ca_key is not None and ca_cert is None:
        raise click.UsageError("--ca-key needs --ca-cert")
    if ca_cert is None:
        if webhook_url or tls_cert:
            raise click.UsageError(
                "--webhook-url and --tls-cert need --ca-cert: kube-apiserver must trust the CA "
                "that signed the server's certificate (make both with `admit certs`)"
            )
        ca = make_ca()
        serving = make_serving_cert(ca, [*service_names(service, namespace), *sans])
        click.echo(
            f"admit: made a new CA and serving certificate (tls.crt fingerprint "
            f"{fingerprint(serving.cert_pem)[:16]}...); each run makes new ones, so for "
            "repeatable applies make them once with `admit certs` and pass them in",
            err=True,
        )
        return ca, serving
    if tls_cert is not None and tls_key is not None:
        # Only the CA's certificate is rendered (caBundle); its key need not be here at all.
        ca = read_pair(ca_cert, ca_key) if ca_key else KeyPair(read_cert(ca_cert), b"")
        return ca, read_pair(tls_cert, tls_key)
    if webhook_url:
        return KeyPair(read_cert(ca_cert), b""), None
    if ca_key is None:
        raise click.UsageError(
            "--ca-cert needs --ca-key to sign a certificate, or --tls-cert/--tls-key"
        )
    ca = read_pair(ca_cert, ca_key)
    try:
        serving = make_serving_cert(ca, [*service_names(service, namespace), *sans])
    except ValueError as exc:
        raise InputError(str(exc), path=str(ca_cert)) from None
    return ca, serving


@click.command(epilog=BUNDLE_HELP)
@click.argument("bundle", type=BUNDLE)
@click.option(
    "-n", "--namespace", help="Namespace to install admit in (required, but with --helm-values)."
)
@click.option("--service", default="admit", show_default=True, help="Name of admit's Service.")
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="admit's image.")
@click.option(
    "--replicas",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Pods serving the webhook; 2 or more also get a PodDisruptionBudget.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=2,
    show_default=True,
    help="Worker processes per replica.",
)
@click.option(
    "--console",
    is_flag=True,
    help="Serve the web console on port 6060 of the pod's loopback: reach it with "
    "`kubectl -n NAMESPACE port-forward deploy/SERVICE 6060`.",
)
@click.option(
    "--console-token-secret",
    metavar="SECRET",
    default=None,
    help="With --console: expose it on the Service's port 6060 too, over HTTPS, to those "
    "with the token in this Secret's key `token` (create it first, e.g. `kubectl create "
    "secret generic admit-console --from-literal=token=$(head -c 24 /dev/urandom | base64)`).",
)
@click.option(
    "--failure-policy",
    type=click.Choice(["Fail", "Ignore"]),
    default="Fail",
    show_default=True,
    help="What the apiserver does when admit cannot answer: refuse the write, or let it in.",
)
@click.option(
    "--timeout-seconds",
    type=click.IntRange(1, MAX_TIMEOUT_SECONDS),
    default=5,
    show_default=True,
    help=f"Webhook timeout (kube-apiserver allows 1 to {MAX_TIMEOUT_SECONDS}).",
)
@click.option(
    "--webhook-url",
    help="Register admit serve running outside the cluster at this base URL, https://HOST[:PORT] "
    "(admit adds /validate and /mutate), instead of the Service; renders only the Namespace and "
    "the webhook configurations.",
)
@click.option("--ca-cert", type=FILE, help="CA certificate (PEM) for the caBundle.")
@click.option("--ca-key", type=FILE, help="Its key, to sign a new serving certificate.")
@click.option("--tls-cert", type=FILE, help="Serving certificate (PEM) to use.")
@click.option("--tls-key", type=FILE, help="Its private key.")
@click.option("--san", "sans", multiple=True, help="Extra name for a new serving certificate.")
@click.option(
    "--configmaps",
    is_flag=True,
    help="Serve every ConfigMap labelled admit.dev/policy=true in admit's namespace (the bundle's "
    "among them; each load's outcome is annotated on it) instead of a mounted bundle.",
)
@click.option(
    "--audit-interval",
    type=click.FloatRange(0),
    default=0,
    metavar="SECONDS",
    help="Run the server's audit (admit serve --audit-interval): it may then list and watch "
    "the kinds the rules judge, write policy reports and hold a Lease in admit's namespace.",
)
@click.option(
    "--report-api",
    type=click.Choice(["openreports", "wgpolicyk8s"]),
    default="openreports",
    show_default=True,
    help="The reports the audit writes (its CRDs must be installed).",
)
@click.option(
    "--helm-values",
    is_flag=True,
    help="Print values for the Helm chart (deploy/helm/admit) instead: the bundle's files, the "
    "webhook rules and reads its rules need, and the digest the chart checks them against.",
)
@overrides_options
def manifests(
    bundle: Path,
    namespace: str | None,
    service: str,
    image: str,
    replicas: int,
    workers: int,
    console: bool,
    console_token_secret: str | None,
    failure_policy: str,
    timeout_seconds: int,
    webhook_url: str | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    sans: tuple[str, ...],
    configmaps: bool,
    audit_interval: float,
    report_api: str,
    helm_values: bool,
    config_files: tuple[str, ...],
    assignments: tuple[str, ...],
) -> int:
    """Print everything needed to run BUNDLE as admission webhooks, as multi-document YAML.

    Namespace, ServiceAccount, RBAC (only for --configmaps, the kinds rules read and the
    audit), the
    bundle as a ConfigMap, the TLS Secret, Service, Deployment, PodDisruptionBudget, and the
    Validating/Mutating WebhookConfigurations for exactly the kinds and operations the bundle's
    rules match. Without certificates it makes a new CA and serving certificate each run.

    \b
    Examples:
      admit certs -n pipy --out admit-tls
      admit manifests examples/seed -n pipy --ca-cert admit-tls/ca.crt \\
          --tls-cert admit-tls/tls.crt --tls-key admit-tls/tls.key | kubectl apply -f -
      admit manifests examples/seed -n pipy | kubectl apply -f -       # quick try-out
    Outside the cluster (admit serve on a host the apiserver reaches):
      admit manifests examples/seed -n pipy --webhook-url https://10.0.0.5:8443 \\
          --ca-cert admit-tls/ca.crt | kubectl apply -f -
    With parameters of your own (written into the bundle's admit.yaml in its ConfigMap):
      admit manifests library:best-practices -n admit \
          --set restrict-image-registries.allowed='[registry.example.com/]' | kubectl apply -f -
    With Helm (the chart warns when its bundle is not the one the rules were written for):
      admit manifests examples/seed --helm-values > admit-values.yaml
      helm install admit deploy/helm/admit -n pipy --create-namespace -f admit-values.yaml
    """
    overrides = Overrides.read(config_files, assignments)
    if helm_values:
        policy_set = load_bundle(bundle, overrides=overrides)
        files = _with_overrides(bundle, policy_set, overrides)
        click.echo(_HELM_HEADER.format(bundle=bundle), nl=False)
        values = chart.helm_values(policy_set, files)
        if audit_interval:
            values["audit"] = {"interval": audit_interval, "reportApi": report_api}
        click.echo(to_yaml([values]), nl=False)
        return 0
    if namespace is None:
        raise click.UsageError("Missing option '-n' / '--namespace'.")
    names_checked(namespace, service)
    ca, serving = _certificates(
        namespace=namespace,
        service=service,
        sans=sans,
        webhook_url=webhook_url,
        ca_cert=ca_cert,
        ca_key=ca_key,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    policy_set = load_bundle(bundle, overrides=overrides)
    try:
        options = InstallOptions(
            namespace=namespace,
            service=service,
            image=image,
            replicas=replicas,
            workers=workers,
            failure_policy=cast(FailurePolicy, failure_policy),
            timeout_seconds=timeout_seconds,
            console=console,
            console_token_secret=console_token_secret,
            webhook_url=webhook_url,
            extra_sans=sans,
            ca=ca,
            serving=serving,
            files={} if webhook_url else _with_overrides(bundle, policy_set, overrides),
            configmap_sources=configmaps,
            audit_interval=audit_interval,
            report_api=cast(Any, report_api),
        )
        objects = build_manifests(policy_set, options)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    click.echo(to_yaml(objects), nl=False)
    return 0


def _with_overrides(bundle: Path, policy_set: Any, overrides: Overrides) -> dict[str, str]:
    """The bundle's files for its ConfigMap; with --config/--set, its admit.yaml rewritten to
    hold them too (the served bundle then loads as `admit check --set` checked it)."""
    files = bundle_files(bundle)
    if not overrides:
        return files
    base = load_one(files["admit.yaml"]) if "admit.yaml" in files else None
    layers, _ = overrides.layers(list(policy_set.rules), [(base, "admit.yaml")])
    merged = merge_layers([layer for layer, _ in layers])
    header = (
        f"# The admit.yaml of {bundle}, with the overrides admit manifests was given:\n"
        + "".join(f"#   --config {name}\n" for name, _ in overrides.files)
        + "".join(f"#   --set {a}\n" for a in overrides.assignments)
    )
    files["admit.yaml"] = header + yaml.safe_dump(merged, sort_keys=False, allow_unicode=True)
    return files


_HELM_HEADER = """\
# Values for the admit Helm chart (deploy/helm/admit), written by
#   admit manifests {bundle} --helm-values
# The bundle's files, the webhook rules its rules need and the kinds they read. After changing
# the bundle, write them again: the chart warns when its files are not the ones these rules
# were written for (webhooks.bundleDigest).
"""


def uninstall_commands(namespace: str, service: str) -> list[list[str]]:
    """The webhook configurations go first: deleting the namespace first would leave them
    pointing at a server that no longer exists, and with failurePolicy Fail every matching
    write in the cluster would be refused until they are gone."""
    name = cluster_name(service, namespace)
    return [
        [
            "kubectl", "delete", "--ignore-not-found",
            f"validatingwebhookconfiguration/{name}", f"mutatingwebhookconfiguration/{name}",
        ],
        [
            "kubectl", "delete", "--ignore-not-found",
            f"clusterrolebinding/{name}", f"clusterrole/{name}", f"namespace/{namespace}",
        ],
    ]  # fmt: skip


@click.command()
@click.option("-n", "--namespace", required=True, help="Namespace admit was installed in.")
@click.option("--service", default="admit", show_default=True, help="Name of admit's Service.")
@click.option("--run", is_flag=True, help="Run the commands with kubectl instead of printing them.")
def uninstall(namespace: str, service: str, run: bool) -> int:
    """Remove an install: the webhook configurations first, then the namespace.

    Also the break-glass for a broken install: when admit is down and its failurePolicy Fail
    refuses writes, this unregisters it before anything else. Prints the kubectl commands;
    --run runs them with the current kubectl context (stopping at the first failure).

    \b
    Examples:
      admit uninstall -n pipy
      admit uninstall -n pipy --run
    """
    names_checked(namespace, service)
    commands = uninstall_commands(namespace, service)
    click.echo(" && \\\n  ".join(shlex.join(command) for command in commands))
    if not run:
        return 0
    for command in commands:
        click.echo(f"+ {shlex.join(command)}", err=True)
        try:
            code = subprocess.run(command, check=False).returncode
        except FileNotFoundError:
            raise click.ClickException("kubectl is not on PATH; run the commands above") from None
        if code != 0:
            return code
    return 0


__all__ = ["certs", "manifests", "to_yaml", "uninstall", "uninstall_commands"]
