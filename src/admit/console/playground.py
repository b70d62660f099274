"""The playground: evaluate pasted manifests (YAML or JSON), AdmissionReviews or requests
picked from the stream against the loaded policies, exactly as the webhook would (mutations,
then validations, under the rule timeout). Never touches a cluster: referential rules see only
the pasted objects, as with `admit check`.

What is pasted is bounded before anything is built from it: documents, values (counted as
YAML aliases expand them, so a few hundred bytes of `*alias` cannot become gigabytes), nesting
depth, and the size of the answer. A pasted AdmissionRequest must have the webhook's shape.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from time import perf_counter
from typing import Any

import orjson
import yaml

from admit.core.cluster import Cluster
from admit.core.decision import Decision
from admit.core.engine import PolicySet
from admit.core.errors import InputError
from admit.core.kinds import Kinds
from admit.core.match import OPERATIONS
from admit.core.offline import admission_request
from admit.core.review import Request
from admit.core.shape import InvalidRequest, request_problem
from admit.loading.builtin_kinds import builtin_kinds
from admit.server.feed import expand, record

Judge = Callable[[PolicySet, Request], Decision]
MAX_DOCUMENTS = 50
MAX_VALUES = 100_000  # values in all documents, each alias counted as what it expands to
MAX_DEPTH = 100  # levels of nesting (Kubernetes objects rarely pass 30)
MAX_ANSWER = 4 * 1024 * 1024  # bytes of the answer

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PlaygroundError(InputError):
    """The pasted text or the options cannot be evaluated (answered as 400 with this text)."""


class _Budget:
    """Values left to build; each document takes its expanded size from it."""

    def __init__(self) -> None:
        self.values = MAX_VALUES

    def take(self, values: int) -> None:
        self.values -= values
        if self.values < 0:
            raise PlaygroundError(
                f"the text holds more than {MAX_VALUES:,} values (YAML aliases count as what "
                "they expand to); paste less"
            )


def _expanded(root: Any, children: Callable[[Any], list[Any]]) -> int:
    """The number of values `root` expands to (shared parts counted at each use), refusing
    more than MAX_VALUES, nesting past MAX_DEPTH and a value that contains itself. Iterative
    and linear in the distinct values: no recursion for a hostile input to exhaust."""
    sizes: dict[int, tuple[int, int]] = {}
    ancestors: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        value, finished = stack.pop()
        key = id(value)
        if finished:
            ancestors.discard(key)
            inner = [sizes[id(c)] for c in children(value)]
            count = 1 + sum(n for n, _ in inner)
            depth = 1 + max((d for _, d in inner), default=0)
            if count > MAX_VALUES:
                raise PlaygroundError(
                    f"a document expands to more than {MAX_VALUES:,} values (through YAML "
                    "aliases?); paste less"
                )
            if depth > MAX_DEPTH:
                raise PlaygroundError(f"a document is nested more than {MAX_DEPTH} levels deep")
            sizes[key] = (count, depth)
        elif key in ancestors:
            raise PlaygroundError("a YAML alias refers to a value that contains it")
        elif key not in sizes:
            ancestors.add(key)
            stack.append((value, True))
            stack.extend((c, False) for c in children(value) if id(c) not in sizes)
    return sizes[id(root)][0]


def _node_children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _value_children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else []


class _BoundedLoader(_Base):  # type: ignore[misc]
    """Safe YAML whose documents are measured as composed, before anything is constructed
    (constructing merge keys alone can grow exponentially)."""

    budget: _Budget

    def construct_document(self, node: Any) -> Any:
        self.budget.take(_expanded(node, _node_children))
        return super().construct_document(node)


def _yaml_documents(text: str, budget: _Budget) -> Iterator[Any]:
    loader = _BoundedLoader(text)
    loader.budget = budget
    try:
        while loader.check_data():
            yield loader.get_data()
    finally:
        loader.dispose()


def parse(text: str) -> list[Any]:
    """The documents in `text`: one JSON value, or YAML (several documents allowed)."""
    if not text.strip():
        raise PlaygroundError("paste a manifest (YAML or JSON) first")
    budget = _Budget()
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        budget.take(_expanded(document, _value_children))
        return [document]
    documents = []
    try:
        for count, document in enumerate(_yaml_documents(text, budget), 1):
            if count > MAX_DOCUMENTS:
                raise PlaygroundError(f"at most {MAX_DOCUMENTS} documents at a time")
            if document is not None:
                documents.append(_as_json(document, count))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaygroundError(f"neither JSON nor YAML{where}: {problem}") from None
    objects: list[Any] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            items = document.get("items") or []
            objects.extend(items if isinstance(items, list) else [items])
        else:
            objects.append(document)
    return objects


def _as_json(document: Any, number: int) -> Any:
    """A YAML document as the JSON kubectl would send: keys as strings, timestamps in RFC 3339,
    binary in base64, sets as arrays."""
    try:
        return orjson.loads(orjson.dumps(document, default=_json_default, option=_NON_STR_KEYS))
    except orjson.JSONEncodeError as exc:
        raise PlaygroundError(f"document {number} cannot be sent as JSON: {exc}") from None


_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


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
            problem = _manifest_problem(document)
            if problem:
                raise PlaygroundError(f"document {i}: {problem}")
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
        problem = request_problem(found[-1])
        if problem:
            raise PlaygroundError(f"document {i}: {problem}")
    return found


def _manifest_problem(document: Mapping[str, Any]) -> str | None:
    """What keeps a manifest from being an object kube-apiserver would send, or None."""
    for field in ("kind", "apiVersion"):
        if not isinstance(document[field], str):
            return f"{field} must be a string"
    metadata = document.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return "metadata must be an object"
    for field in ("name", "namespace", "generateName"):
        if not isinstance(metadata.get(field, ""), str):
            return f"metadata.{field} must be a string"
    return None


def _clusterable(obj: Any) -> bool:
    """Whether a pasted object can stand in the playground's cluster (keyed by kind and name)."""
    return (
        isinstance(obj, dict) and _manifest_problem({"kind": "", "apiVersion": "", **obj}) is None
    )


def requests_of_text(
    text: str,
    kinds: Kinds,
    *,
    operation: str = "CREATE",
    namespace: str = "default",
    username: str = "admit-console",
    groups: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """The AdmissionRequests pasted `text` stands for (see `requests_for`)."""
    documents = parse(text)
    user = {"username": username, "groups": [*groups, "system:authenticated"]}
    return requests_for(
        documents, operation=operation, namespace=namespace or "default", user=user, kinds=kinds
    )


def kinds_of(policy_set: PolicySet) -> Kinds:
    """The kinds manifests are resolved with: the set's (a set from ConfigMap sources is merged
    from several loads and carries no kinds of its own: then the API's built-in ones)."""
    return policy_set.kinds if len(policy_set.kinds) else builtin_kinds()


def judge_requests(
    policy_set: PolicySet, raws: list[dict[str, Any]], judge: Judge
) -> list[dict[str, Any]]:
    """One stream-shaped entry (see `admit.server.feed.expand`) per request; the pasted objects
    are the cluster referential rules see."""
    cluster = Cluster.of(r["object"] for r in raws if _clusterable(r.get("object")))
    entries, size = [], 0
    for i, raw in enumerate(raws, 1):
        started = perf_counter()
        request = Request(raw, cluster=cluster)
        try:
            decision = judge(policy_set, request)
        except InvalidRequest as exc:
            raise PlaygroundError(f"document {i}: {exc}") from None
        sent = record(
            decision,
            endpoint="playground",
            seconds=perf_counter() - started,
            bundle=policy_set.digest,
        )
        try:
            shown = orjson.dumps(expand(sent, raw))  # as the stream shows it
        except orjson.JSONEncodeError as exc:  # a mutation that wrote what JSON cannot hold
            raise PlaygroundError(f"document {i}: the decision cannot be shown: {exc}") from None
        size += len(shown)
        if size > MAX_ANSWER:
            raise PlaygroundError(
                f"the answer would pass {MAX_ANSWER // 1024 // 1024} MiB; evaluate fewer or "
                "smaller documents at a time"
            )
        entries.append(orjson.loads(shown))
    return entries


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
    raws = requests_of_text(
        text,
        kinds_of(policy_set),
        operation=operation,
        namespace=namespace,
        username=username,
        groups=groups,
    )
    return judge_requests(policy_set, raws, judge)
