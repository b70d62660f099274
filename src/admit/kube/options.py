"""`InstallOptions`: everything an install of admit is rendered from, checked when it is made.

Mistakes that would otherwise surface only in the cluster, as a webhook that every write fails
on (`x509: certificate is valid for X, not Y`), are refused here with a plain `ValueError`: a
serving certificate that does not chain to the CA in `caBundle` or lacks the name the apiserver
dials, a timeout kube-apiserver rejects, a namespace admit would exempt from its own policies.
Pure (certificates are parsed, nothing is read); the CLI turns the errors into exit codes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from admit.kube.certs import KeyPair

FailurePolicy = Literal["Fail", "Ignore"]

DEFAULT_IMAGE = "ghcr.io/admit-dev/admit:0.1.0"
HTTPS_PORT = 8443  # the container's port; `admit serve --port`
SERVICE_PORT = 443  # what kube-apiserver dials on the Service
CONSOLE_PORT = 6060
MAX_TIMEOUT_SECONDS = 10  # kube-apiserver refuses a webhook timeoutSeconds outside 1..10

# admit's own namespace is exempt from its webhooks and deleted by `admit uninstall`: neither
# is acceptable for these.
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # RFC 1123: namespaces
_SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # RFC 1035: Service names


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallOptions:
    """What to render. `ca` provides only its certificate (the `caBundle`); its key, if any, is
    never rendered. `serving` and `files` (see `install.bundle_files`) are needed unless
    `webhook_url` names a server outside the cluster.

    Access to the Kubernetes API is granted only as needed: `configmap_sources` serves every
    ConfigMap labelled `admit.dev/policy=true` in admit's namespace (the bundle's among them)
    instead of a mounted bundle, so admit may read and annotate (patch) ConfigMaps there; the
    cluster cache may get/list/watch the kinds the bundle's rules declare with `reads=`, plus
    the (API group, resource) pairs in `reads`. With `audit_interval` the server audits existing
    objects: it may also list and watch the kinds the rules judge, write policy reports
    (`report_api`) and hold a Lease in admit's namespace."""

    namespace: str
    ca: KeyPair
    serving: KeyPair | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    service: str = "admit"
    image: str = DEFAULT_IMAGE
    replicas: int = 2
    workers: int = 2
    failure_policy: FailurePolicy = "Fail"
    timeout_seconds: int = 5
    console: bool = False
    # A Secret (key `token`) in admit's namespace: the console then listens on the pod's
    # address, over HTTPS, to those with that token, and the Service carries its port. Without
    # it the console stays on the pod's loopback, for `kubectl port-forward`.
    console_token_secret: str | None = None
    webhook_url: str | None = None
    extra_sans: tuple[str, ...] = ()
    configmap_sources: bool = False
    reads: tuple[tuple[str, str], ...] = ()
    audit_interval: float = 0.0  # `serve --audit-interval`: 0 renders no audit
    report_api: Literal["openreports", "wgpolicyk8s"] = "openreports"

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))
        object.__setattr__(self, "extra_sans", tuple(self.extra_sans))
        object.__setattr__(self, "reads", tuple((g, r) for g, r in self.reads))
        check_names(self.namespace, self.service)
        _certificates(self.ca.cert_pem, "the CA")
        if self.replicas < 1 or self.workers < 1:
            raise ValueError("replicas and workers must be at least 1")
        if self.failure_policy not in ("Fail", "Ignore"):
            raise ValueError(f"failure policy must be Fail or Ignore, not {self.failure_policy!r}")
        if not 1 <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise ValueError(
                f"timeout must be 1 to {MAX_TIMEOUT_SECONDS} seconds (kube-apiserver's limit), "
                f"not {self.timeout_seconds}"
            )
        if not self.image.strip():
            raise ValueError("the image must not be empty")
        if self.audit_interval < 0:
            raise ValueError("the audit interval must be 0 (off) or positive")
        if self.report_api not in ("openreports", "wgpolicyk8s"):
            raise ValueError(f"reports are openreports or wgpolicyk8s, not {self.report_api!r}")
        for group, resource in self.reads:
            if not isinstance(group, str) or not resource or "/" in group:
                raise ValueError(f"a read is (API group, resource), got {(group, resource)!r}")
        if self.webhook_url is not None:
            host = _url_host(self.webhook_url)
            if self.serving is not None:
                check_serving(self.ca, self.serving, [host])
            return
        if self.serving is None:
            raise ValueError("an in-cluster install needs a serving certificate")
        if not self.files:
            raise ValueError("an in-cluster install needs the bundle's files")
        check_serving(self.ca, self.serving, [self.dns_name, *self.extra_sans])

    @property
    def selector(self) -> dict[str, str]:
        """The labels that pick this install's pods (kept stable: selectors are immutable)."""
        return {"app.kubernetes.io/name": "admit", "app.kubernetes.io/instance": self.service}

    @property
    def labels(self) -> dict[str, str]:
        return {**self.selector, "app.kubernetes.io/managed-by": "admit"}

    def metadata(self, name: str, *, namespaced: bool = True) -> dict[str, Any]:
        """`metadata` of one of the install's objects: its name, namespace and labels."""
        meta: dict[str, Any] = {"name": name}
        if namespaced:
            meta["namespace"] = self.namespace
        meta["labels"] = self.labels
        return meta

    @property
    def dns_name(self) -> str:
        """The name kube-apiserver dials for `clientConfig.service` (and checks the cert for)."""
        return f"{self.service}.{self.namespace}.svc"

    @property
    def cluster_name(self) -> str:
        return cluster_name(self.service, self.namespace)


def cluster_name(service: str, namespace: str) -> str:
    """The name of an install's cluster-scoped objects (webhook configurations, ClusterRole):
    unique per install, since Service names and namespaces are DNS labels and hold no dot."""
    return f"{service}.{namespace}"


def check_names(namespace: str, service: str) -> None:
    """Refuse names Kubernetes would refuse, and namespaces admit must not be installed in."""
    if not _DNS_LABEL.match(namespace):
        raise ValueError(f"namespace {namespace!r} is not a DNS label (a-z, 0-9, -; at most 63)")
    if namespace in RESERVED_NAMESPACES:
        raise ValueError(
            f"install admit in a namespace of its own, not {namespace!r}: its namespace is exempt "
            "from its webhooks and `admit uninstall` deletes it"
        )
    if not _SERVICE_NAME.match(service):
        raise ValueError(
            f"service name {service!r} must start with a letter and hold only a-z, 0-9 and -"
        )


WEBHOOK_PATHS = ("/validate", "/mutate")  # what admit serves and appends to a webhook URL


def _url_host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"webhook URL {url!r} must be https://HOST[:PORT][/PATH]")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"webhook URL {url!r} may not hold a query, fragment or user")
    path = parts.path.rstrip("/")
    if path.endswith(WEBHOOK_PATHS):
        base = url.rstrip("/")[: -len(path.rpartition("/")[2]) - 1]
        raise ValueError(
            f"webhook URL {url!r} ends in a webhook path, but admit adds "
            f"{' and '.join(WEBHOOK_PATHS)} to the base URL itself (every write would go to "
            f"{url.rstrip('/')}{WEBHOOK_PATHS[0]}, which does not exist): give {base!r}"
        )
    return parts.hostname


def _names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses (as text) in the certificate's SANs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    return dns + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def _covers(cert: x509.Certificate, name: str) -> bool:
    """Whether a SAN of `cert` matches `name` as Go's TLS client checks it (CN ignored)."""
    names = _names(cert)
    try:
        return str(ipaddress.ip_address(name)) in names
    except ValueError:
        pass
    name = name.lower().rstrip(".")
    head, _, rest = name.partition(".")
    return name in names or (bool(head and rest) and f"*.{rest}" in names)


def _certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError(f"{what} is not a PEM certificate") from None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_serving(ca: KeyPair, serving: KeyPair, names: list[str]) -> None:
    """Refuse a serving certificate that kube-apiserver would reject: one not chaining (through
    the intermediates in its PEM) to a certificate of `ca`, out of date, or missing a name."""
    roots = _certificates(ca.cert_pem, "the CA")
    chain = _certificates(serving.cert_pem, "the serving certificate")
    leaf = chain[0]
    now = dt.datetime.now(dt.UTC)
    for cert in (leaf, *roots):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ValueError(
                f"certificate {cert.subject.rfc4514_string()} is valid only from "
                f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}"
            )
    current, intermediates = leaf, list(chain[1:])
    while not any(_issued_by(current, root) for root in roots):
        issuer = next((c for c in intermediates if _issued_by(current, c)), None)
        if issuer is None:
            raise ValueError(
                f"the serving certificate ({leaf.subject.rfc4514_string()}) was not issued by "
                "the CA: kube-apiserver, which trusts only the CA, would refuse it"
            )
        intermediates.remove(issuer)
        current = issuer
    missing = [name for name in names if not _covers(leaf, name)]
    if missing:
        raise ValueError(
            f"the serving certificate does not cover {', '.join(missing)} (it names "
            f"{', '.join(_names(leaf)) or 'nothing'}); make one with `admit certs`"
        )
