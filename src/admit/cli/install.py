"""`admit certs`, `admit manifests` and `admit uninstall`: installing admit on Kubernetes.

Thin commands: they read and write files, then hand over to `admit.kube` (what to render is
`build_manifests`, how certificates are made is `admit.kube.certs`). Mistakes that would only
show in the cluster, as a webhook every write fails on, are refused here with exit code 2.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any, cast, get_args

import click
import yaml

from admit.core.errors import InputError
from admit.kube.certs import (
    KeyPair,
    KeyType,
    fingerprint,
    load_pair,
    make_ca,
    make_serving_cert,
    service_names,
    write_pair,
)
from admit.kube.manifests import DEFAULT_IMAGE, InstallOptions, build_manifests, bundle_files
from admit.kube.options import MAX_TIMEOUT_SECONDS, FailurePolicy, check_names, cluster_name
from admit.loading.loader import load_bundle

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _names_checked(namespace: str, service: str) -> None:
    try:
        check_names(namespace, service)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None


def _pair(cert: Path, key: Path) -> KeyPair:
    try:
        return load_pair(cert, key)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=exc.filename or str(cert)) from None
    except ValueError as exc:
        raise InputError(str(exc)) from None


@click.command()
@click.option("-n", "--namespace", required=True, help="Namespace admit is installed in.")
@click.option("--service", default="admit", show_default=True, help="Name of admit's Service.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for ca.crt, ca.key, tls.crt and tls.key (created if needed).",
)
@click.option("--san", "sans", multiple=True, help="Extra DNS name or IP address (repeatable).")
@click.option(
    "--key-type",
    type=click.Choice(get_args(KeyType)),
    default="ecdsa-p256",
    show_default=True,
    help="Key algorithm of new keys.",
)
@click.option(
    "--days",
    type=click.IntRange(1),
    default=365,
    show_default=True,
    help="Validity of the serving certificate (a new CA gets 10 years).",
)
@click.option("--ca-cert", type=_FILE, help="Sign with this CA instead of making one...")
@click.option("--ca-key", type=_FILE, help="...and its private key.")
@click.option("--force", is_flag=True, help="Overwrite files that exist in --out.")
def certs(
    namespace: str,
    service: str,
    out: Path,
    sans: tuple[str, ...],
    key_type: KeyType,
    days: int,
    ca_cert: Path | None,
    ca_key: Path | None,
    force: bool,
) -> int:
    """Make a CA and a serving certificate for admit's Service.

    The certificate names SERVICE.NAMESPACE.svc (what kube-apiserver dials), its longer and
    shorter forms, and every --san. Keep ca.key out of the cluster: `admit manifests` needs
    only ca.crt, tls.crt and tls.key.

    \b
    Examples:
      admit certs -n pipy --out admit-tls
      admit certs -n pipy --out admit-tls --san 127.0.0.1     # also for `admit serve` here
      admit certs -n pipy --out renewed --ca-cert admit-tls/ca.crt --ca-key admit-tls/ca.key
    """
    _names_checked(namespace, service)
    if (ca_cert is None) != (ca_key is None):
        raise click.UsageError("give --ca-cert and --ca-key together, or neither")
    given = _pair(ca_cert, ca_key) if ca_cert and ca_key else None
    targets = ["tls.crt", "tls.key"]
    if given is None:
        targets += ["ca.crt", "ca.key"]
    elif (out / "ca.crt").exists() and (out / "ca.crt").read_bytes() != given.cert_pem:
        targets.append("ca.crt")
    existing = [str(out / name) for name in sorted(targets) if (out / name).exists()]
    if existing and not force:
        raise click.UsageError(
            f"{', '.join(existing)} exist; pass --force to overwrite them (a new CA breaks every "
            "install that trusts the old one)"
        )
    ca = given or make_ca(key_type=key_type)
    names = [*service_names(service, namespace), *sans]
    try:
        serving = make_serving_cert(ca, names, key_type=key_type, days=days)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if given is None:
        ca_paths = write_pair(ca, out, "ca")
        click.echo(
            f"wrote {ca_paths[0]} and {ca_paths[1]} (a new CA: keep ca.key out of the cluster)"
        )
    elif "ca.crt" in targets or not (out / "ca.crt").exists():
        out.mkdir(parents=True, exist_ok=True)
        (out / "ca.crt").write_bytes(given.cert_pem)  # the caBundle, beside the pair it signed
        click.echo(f"wrote {out / 'ca.crt'} (a copy of {ca_cert})")
    cert_path, key_path = write_pair(serving, out, "tls")
    click.echo(f"wrote {cert_path} and {key_path} for {', '.join(dict.fromkeys(names))}")
    click.echo(f"CA fingerprint (SHA-256):      {fingerprint(ca.cert_pem)}")
    click.echo(f"tls.crt fingerprint (SHA-256): {fingerprint(serving.cert_pem)}")
    return 0


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
        ca = _pair(ca_cert, ca_key) if ca_key else KeyPair(_read(ca_cert), b"")
        return ca, _pair(tls_cert, tls_key)
    if webhook_url:
        return KeyPair(_read(ca_cert), b""), None
    if ca_key is None:
        raise click.UsageError(
            "--ca-cert needs --ca-key to sign a certificate, or --tls-cert/--tls-key"
        )
    ca = _pair(ca_cert, ca_key)
    try:
        serving = make_serving_cert(ca, [*service_names(service, namespace), *sans])
    except ValueError as exc:
        raise InputError(str(exc), path=str(ca_cert)) from None
    return ca, serving


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False, path_type=Path))
@click.option("-n", "--namespace", required=True, help="Namespace to install admit in.")
@click.option("--service", default="admit", show_default=True, help="Name of admit's Service.")
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="admit's image.")
@click.option("--replicas", type=click.IntRange(1), default=2, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=2,
    show_default=True,
    help="Worker processes per replica.",
)
@click.option("--console", is_flag=True, help="Serve the debug console on port 6060.")
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
    help="Register https://HOST[:PORT] (admit serve outside the cluster) instead of the Service; "
    "renders only the Namespace and the webhook configurations.",
)
@click.option("--ca-cert", type=_FILE, help="CA certificate (PEM) for the caBundle.")
@click.option("--ca-key", type=_FILE, help="Its key, to sign a new serving certificate.")
@click.option("--tls-cert", type=_FILE, help="Serving certificate (PEM) to use.")
@click.option("--tls-key", type=_FILE, help="Its private key.")
@click.option("--san", "sans", multiple=True, help="Extra name for a new serving certificate.")
@click.option(
    "--configmaps", is_flag=True, help="Let admit read and annotate ConfigMaps in its namespace."
)
def manifests(
    bundle: Path,
    namespace: str,
    service: str,
    image: str,
    replicas: int,
    workers: int,
    console: bool,
    failure_policy: str,
    timeout_seconds: int,
    webhook_url: str | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    sans: tuple[str, ...],
    configmaps: bool,
) -> int:
    """Print everything needed to run BUNDLE as admission webhooks, as multi-document YAML.

    Namespace, ServiceAccount, RBAC (none unless --configmaps), the bundle as a ConfigMap, the
    TLS Secret, Service, Deployment, PodDisruptionBudget, and the Validating/Mutating
    WebhookConfigurations for exactly the kinds and operations the bundle's rules match.
    Without certificates it makes a new CA and serving certificate each run.

    \b
    Examples:
      admit certs -n pipy --out admit-tls
      admit manifests examples/seed -n pipy --ca-cert admit-tls/ca.crt \\
          --tls-cert admit-tls/tls.crt --tls-key admit-tls/tls.key | kubectl apply -f -
      admit manifests examples/seed -n pipy | kubectl apply -f -       # quick try-out
    Outside the cluster (admit serve on a host the apiserver reaches):
      admit manifests examples/seed -n pipy --webhook-url https://10.0.0.5:8443 \\
          --ca-cert admit-tls/ca.crt | kubectl apply -f -
    """
    _names_checked(namespace, service)
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
    policy_set = load_bundle(bundle)
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
            webhook_url=webhook_url,
            extra_sans=sans,
            ca=ca,
            serving=serving,
            files={} if webhook_url else bundle_files(bundle),
            configmap_sources=configmaps,
        )
        objects = build_manifests(policy_set, options)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    click.echo(to_yaml(objects), nl=False)
    return 0


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
    _names_checked(namespace, service)
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
