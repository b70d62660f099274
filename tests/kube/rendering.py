"""Shared by the install tests: checking rendered objects against Kubernetes' schemas,
rendering the Helm chart, and a bundle that uses every kind of match."""

import base64
import copy
import json

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.x509.verification import DNSName, PolicyBuilder, Store

from tests.helpers import ROOT

CHART = ROOT / "deploy" / "helm" / "admit"
SCHEMA_VERSIONS = ("1.32", kubernetes_validate.latest_version())


_VALID: set[str] = set()


def assert_valid(objects):
    """Each object against the Kubernetes OpenAPI schemas, strict: unknown fields fail too."""
    for obj in objects:
        text = json.dumps(obj, sort_keys=True)
        if text in _VALID:  # the same object, already checked by an earlier test
            continue
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{obj['kind']} {obj['metadata']['name']} ({version}): {path}: {exc.message}")  # fmt: skip
        _VALID.add(text)


def by_kind(objects):
    found = {}
    for obj in objects:
        assert obj["kind"] not in found, f"two {obj['kind']}s"
        found[obj["kind"]] = obj
    return found


def verify_for(ca_bundle_b64, cert_pem, name):
    roots = x509.load_pem_x509_certificates(base64.b64decode(ca_bundle_b64))
    leaf = x509.load_pem_x509_certificate(cert_pem)
    verifier = PolicyBuilder().store(Store(roots)).build_server_verifier(DNSName(name))
    verifier.verify(leaf, [])



def render_chart(values, namespace="pipy"):
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        rendered = chart.render(values, name="admit", namespace=namespace, is_install=True)
    return [
        doc
        for name, text in sorted(rendered.items())
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def comparable(obj):
    """An object without the labels only Helm adds."""
    obj = copy.deepcopy(obj)
    for meta in (obj["metadata"], obj.get("spec", {}).get("template", {}).get("metadata", {})):
        for label in ("app.kubernetes.io/managed-by", "helm.sh/chart"):
            meta.get("labels", {}).pop(label, None)
    return obj


def chart_values(serving, ca, files, **more):
    return {
        "createNamespace": True,
        "bundle": {"files": files},
        "tls": {"caCert": ca.cert_pem.decode(), "cert": serving.cert_pem.decode(), "key": serving.key_pem.decode()},
        **more,
    }  # fmt: skip



def sent_to(rules, request):
    """Whether admissionregistration `rules` send this recorded request to the webhook
    (the API reference's semantics: "*" is every resource but no subresource)."""
    resource, sub = request["resource"], request.get("subResource", "")
    for rule in rules:
        if request["operation"] not in rule["operations"] and "*" not in rule["operations"]:
            continue
        if "*" not in rule["apiGroups"] and resource["group"] not in rule["apiGroups"]:
            continue
        if "*" not in rule["apiVersions"] and resource["version"] not in rule["apiVersions"]:
            continue
        for pattern in rule["resources"]:
            name, _, subpattern = pattern.partition("/")
            if name in ("*", resource["resource"]) and (
                (not sub and not subpattern) or (sub and subpattern in ("*", sub))
            ):
                return True
    return False


RICH_BUNDLE = """
import admit

@admit.validate("Pod")
def pods(request): ...

@admit.validate("*", operations=["DELETE"])
def deletes(request): ...

@admit.validate("Pod/exec", operations=["CONNECT"])
def execs(request): ...

@admit.validate("Pod/eviction", operations=["CREATE"])
def evictions(request): ...

@admit.validate("apps/v1/Deployment/scale", operations=["UPDATE"])
def scales(request): ...

@admit.validate("Ingress", "Namespace", "ConfigMap", operations="*")
def misc(request): ...

@admit.validate("stable.example.com/v1/CronTab")
def crontabs(request): ...

@admit.mutate("Pod")
def labels(pod):
    pod.metadata.setdefault("labels", {})

@admit.decision("httpapi/authz/allow")
def allow(input):
    return True
"""


RICH_CONFIG = """
kinds:
  - {group: stable.example.com, version: v1, kind: CronTab, plural: crontabs, scope: Namespaced}
"""
RICH_FILES = {"rules.py": RICH_BUNDLE, "admit.yaml": RICH_CONFIG}

