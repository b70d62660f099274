"""The playground: evaluate pasted manifests (YAML or JSON), AdmissionReviews or requests
picked from the stream against the loaded policies, exactly as the webhook would (mutations,
then validations, under the rule timeout). Never touches a cluster: referential rules see only
the pasted objects, as with `admit check`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

import orjson
import yaml

from admit.core.cluster import Cluster
from admit.core.decision import Decision
from admit.core.engine import PolicySet
from admit.core.kinds import Kinds
from admit.core.manifest import admission_request
from admit.core.match import OPERATIONS
from admit.core.review import Request
from admit.loading.builtin_kinds import builtin_kinds
from admit.server.feed import expand, record

Judge = Callable[[PolicySet, Request], Decision]
MAX_DOCUMENTS = 50


class PlaygroundError(ValueError):
    """The pasted text or the options cannot be evaluated (answered as 400 with this text)."""


def parse(text: str) -> list[Any]:
    """The documents in `text`: one JSON value, or YAML (several documents allowed)."""
    if not text.strip():
        raise PlaygroundError("paste a manifest (YAML or JSON) first")
    try:
        return [orjson.loads(text)]
    except orjson.JSONDecodeError:
        pass
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaygroundError(f"neither JSON nor YAML{where}: {problem}") from None
    objects: list[Any] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            objects.extend(document.get("items") or [])
        else:
            objects.append(document)
    return objects


def _is_admission_request(document: Mapping[str, Any]) -> bool:
    return isinstance(document.get("kind"), dict) and "operation" in document


def requests_for(
    documents: list[Any],
    *,
    operation: str,
    namespace: str,
    user: Mapping[str, Any],
    kinds: Kinds,
) -> list[dict[str, Any]]:
    """AdmissionRequests: given ones as they are, manifests as kube-apiserver would send them."""
    if operation not in OPERATIONS:
        raise PlaygroundError(f"operation {operation!r} is not one of {sorted(OPERATIONS)}")
    if len(documents) > MAX_DOCUMENTS:
        raise PlaygroundError(f"at most {MAX_DOCUMENTS} documents at a time")
    found = []
    for i, document in enumerate(documents, 1):
        if not isinstance(document, dict):
            raise PlaygroundError(f"document {i} is a {type(document).__name__}, not an object")
        if document.get("kind") == "AdmissionReview" and isinstance(document.get("request"), dict):
            found.append(document["request"])
        elif _is_admission_request(document):
            found.append(document)
        elif not document.get("kind") or not document.get("apiVersion"):
            raise PlaygroundError(f"document {i} has no kind or apiVersion")
        else:
            deleting = operation == "DELETE"
            found.append(
                admission_request(
                    None if deleting else document,
                    kinds=kinds,
                    operation=operation,
                    namespace=namespace,
                    old_object=document if operation in ("UPDATE", "DELETE") else None,
                    user=user,
                )
            )
    return found


def evaluate_text(
    policy_set: PolicySet,
    text: str,
    judge: Judge,
    *,
    operation: str = "CREATE",
    namespace: str = "default",
    username: str = "admit-console",
    groups: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """One stream-shaped entry (see `admit.server.feed.expand`) per document."""
    documents = parse(text)
    user = {"username": username, "groups": [*groups, "system:authenticated"]}
    # A set from ConfigMap sources is merged from several loads and carries no kinds of its own.
    kinds = policy_set.kinds if len(policy_set.kinds) else builtin_kinds()
    raws = requests_for(
        documents, operation=operation, namespace=namespace or "default", user=user, kinds=kinds
    )
    cluster = Cluster.of(
        r["object"] for r in raws if isinstance(r.get("object"), dict) and r["object"].get("kind")
    )
    entries = []
    for raw in raws:
        started = perf_counter()
        request = Request(raw, cluster=cluster)
        decision = judge(policy_set, request)
        sent = record(
            decision,
            endpoint="playground",
            seconds=perf_counter() - started,
            bundle=policy_set.digest,
        )
        entries.append(orjson.loads(orjson.dumps(expand(sent, raw))))  # as the stream shows it
    return entries
