"""Validating policy reports against the published CRD schemas (tests/schemas), as
kube-apiserver would: the schema's own keywords, and in strict mode, so that a field the CRD does
not declare (which kube-apiserver would silently prune, losing it) is a problem too. Also the
object's kind and apiVersion, and its name as kube-apiserver checks names."""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
FILES = {
    "openreports": "openreports.io_v1alpha1_report.schema.yaml",
    "wgpolicyk8s": "wgpolicyk8s.io_v1alpha2_policyreport.schema.yaml",
}
KINDS = {
    "openreports": ("openreports.io/v1alpha1", {"Report", "ClusterReport"}),
    "wgpolicyk8s": ("wgpolicyk8s.io/v1alpha2", {"PolicyReport", "ClusterPolicyReport"}),
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` wherever it lists properties and says
    nothing of others (except `metadata`, which kube-apiserver validates itself)."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(v) for v in schema]
    return schema


@cache
def validator(api: str) -> jsonschema.Draft4Validator:
    schema = yaml.safe_load((SCHEMAS / FILES[api]).read_text())
    return jsonschema.Draft4Validator(_strict(copy.deepcopy(schema)))


def problems(document: dict[str, Any], api: str) -> list[str]:
    found = [
        f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
        for e in sorted(validator(api).iter_errors(document), key=str)
    ]
    api_version, kinds = KINDS[api]
    if document.get("apiVersion") != api_version or document.get("kind") not in kinds:
        found.append(f"not a {api} report: {document.get('apiVersion')} {document.get('kind')}")
    meta = document.get("metadata") or {}
    name = str(meta.get("name", ""))
    if not _NAME.match(name) or len(name) > 253:
        found.append(f"metadata.name {name!r} is not a valid object name")
    namespaced = document.get("kind") in ("Report", "PolicyReport")
    if namespaced != bool(meta.get("namespace")):
        found.append(f"a {document.get('kind')} {'needs' if namespaced else 'has no'} namespace")
    return found
