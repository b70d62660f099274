"""`admit certs`: the CA and serving certificate of an install, written to files.

Also holds the certificate-file helpers `admit manifests` shares. The CA's key is written only
when a new CA is made, and never goes into the cluster: manifests need only its certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import click

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
from admit.kube.options import check_names

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def names_checked(namespace: str, service: str) -> None:
    """Refuse a namespace or Service name that no install can have, as a usage error."""
    try:
        check_names(namespace, service)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def read_cert(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None


def read_pair(cert: Path, key: Path) -> KeyPair:
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
@click.option("--ca-cert", type=FILE, help="Sign with this CA instead of making one...")
@click.option("--ca-key", type=FILE, help="...and its private key.")
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
    names_checked(namespace, service)
    if (ca_cert is None) != (ca_key is None):
        raise click.UsageError("give --ca-cert and --ca-key together, or neither")
    given = read_pair(ca_cert, ca_key) if ca_cert and ca_key else None
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
