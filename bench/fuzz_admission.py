"""Fuzz the admission endpoints over a real server: malformed AdmissionReviews must get a 4xx,
never a 500, and never take a worker down.

    .venv/bin/python bench/fuzz_admission.py [--count 100000] [--seed 1] [--connections 4]

Starts `admit serve` (TLS on 127.0.0.1, 2 workers, decision log on) with a bundle whose rules
read every request field that admit itself reads (kinds, namespaces, users and groups,
operations, labels, the old object) and mutate objects and pod templates; then sends `count`
bodies made from the AdmissionReviews kube-apiserver v1.36.2 sent (tests/fixtures/apiserver),
each changed one way: a field given a wrong JSON type (every field of the review and of the
request, the members of kind/resource/userInfo, the object's metadata, labels and containers),
a field removed, an unknown field added, a value nested a thousand levels deep, random but
well-typed identities (kinds, resources, namespaces, users), or broken bytes. Each answer is
checked (200: an AdmissionReview echoing the uid; 4xx: a JSON error with a code), and the
server's log is searched for tracebacks and exited workers. Exits 1 on any 500, malformed
answer, dropped connection or crash. `tests/server/test_fuzz.py` runs a few thousand of these.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "apiserver" / "admission"

BUNDLE = '''
import admit


@admit.mutate("*")
def label_everything(obj):
    obj.labels["fuzz.example.com/seen"] = obj.request.operation.lower()


@admit.mutate("Pod")
def default_pull_policy(pod):
    for container in pod.containers:
        container.setdefault("imagePullPolicy", "IfNotPresent")


@admit.validate(match=admit.Match.of(
    "Pod", exclude_namespaces=["kube-*"], exclude_groups=["system:nodes"]))
def trusted_registry(request):
    for container in request.containers:
        if not container.image.startswith("192.168.64.1"):
            yield admit.Violation(f"{container.image} repo not start with 192.168.64.1",
                                  f"{container.path}.image")


@admit.validate(match=admit.Match.of("*", operations="*", users=["*"], groups=["*"],
    object_selector={"matchExpressions": [
        {"key": "fuzz.example.com/frozen", "operator": "DoesNotExist"}]}))
def names_are_short(request):
    if len(request.name) > 200:
        return f"{request.name[:20]}... is longer than 200 characters"


@admit.validate(match=admit.Match.of(
    "*", operations=["UPDATE", "DELETE"], namespaces=["default", "team-*"]))
def keeps_its_owner(request):
    if request.old_object.metadata.labels.owner != request.object.metadata.labels.owner:
        yield admit.warn("the owner label changed")


@admit.validate("apps/Deployment/scale", operations="*")
def scale_is_bounded(request):
    if (request.object.spec.replicas or 0) > 100:
        return "at most 100 replicas"
'''

FieldPath = tuple[str | int, ...]
DEEP = "\u0000deep\u0000"  # placeholder replaced by the deeply nested text after encoding
DEEP_JSON = json.dumps(DEEP).encode()


def recorded() -> list[tuple[str, dict[str, Any]]]:
    """(endpoint, AdmissionReview) of every recorded admission call."""
    found = []
    for path in sorted(FIXTURES.glob("*.json")):
        record = json.loads(path.read_text())
        endpoint = "/mutate" if "-mutate-" in path.name else "/validate"
        found.append((endpoint, record["body"]))
    return found


def _paths(value: Any, prefix: FieldPath = (), depth: int = 0) -> list[FieldPath]:
    """Every path into `value` down to `depth` 4 (lists: their first two items)."""
    found = [prefix] if prefix else []
    if depth >= 4:
        return found
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "managedFields":
                continue
            found.extend(_paths(child, (*prefix, key), depth + 1))
    elif isinstance(value, list):
        for i, child in enumerate(value[:2]):
            found.extend(_paths(child, (*prefix, i), depth + 1))
    return found


def _set(doc: Any, path: FieldPath, value: Any) -> None:
    *parents, last = path
    for key in parents:
        doc = doc[key]
    doc[last] = value


def _delete(doc: Any, path: FieldPath) -> None:
    *parents, last = path
    for key in parents:
        doc = doc[key]
    del doc[last]


def _word(rng: random.Random, low: int = 1, high: int = 40) -> str:
    alphabet = string.ascii_letters + string.digits + "-._/:*?[]"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def wrong_value(rng: random.Random) -> Any:
    """A JSON value of a random type, often the wrong one for where it goes."""
    choices: list[Any] = [
        None, True, False, 0, -1, 7, 2**63, 10**30, 1.5, -0.0, 1e308, "", "x", "CREATE",
        "a" * rng.choice((300, 5000)), "ünïcødé ✓", "\u0000", "kube-system", [], [1], ["a", 2],
        [None], ["system:masters"], {}, {"a": 1}, {"group": 1, "version": [], "kind": {}},
        {"username": ["x"], "groups": "system:masters"}, [[["deep"]]], _word(rng), DEEP,
    ]  # fmt: skip
    return rng.choice(choices)


@dataclass
class Mutant:
    endpoint: str
    body: bytes
    what: str


class Mutator:
    """Seeded mutants of the recorded reviews, one change each."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.reviews = recorded()
        self.paths = [(endpoint, review, _paths(review)) for endpoint, review in self.reviews]

    def next_mutant(self) -> Mutant:
        rng = self.rng
        endpoint, review, paths = rng.choice(self.paths)
        doc = json.loads(json.dumps(review))
        endpoint = rng.choice((endpoint, "/validate", "/mutate"))
        roll = rng.random()
        depth = 0
        if roll < 0.55:
            path = rng.choice(paths)
            value = wrong_value(rng)
            _set(doc, path, value)
            what = f"{'.'.join(map(str, path))} = {_short(value)}"
            depth = rng.choice((200, 300, 1000, 1100, 5000)) if value == DEEP else 0
        elif roll < 0.65:
            path = rng.choice(paths)
            _delete(doc, path)
            what = f"del {'.'.join(map(str, path))}"
        elif roll < 0.70:
            container = rng.choice([p for p in paths if isinstance(_get(doc, p), dict)] or [()])
            target = _get(doc, container) if container else doc
            target[_word(rng, 1, 12)] = wrong_value(rng)
            what = f"unknown field in {'.'.join(map(str, container)) or 'the review'}"
        elif roll < 0.78:
            target = rng.choice([("request", "object"), ("request", "oldObject")])
            if isinstance(_get(doc, target), dict):
                target = (*target, "metadata")
            depth = rng.choice((100, 250, 600, 900, 1000, 1020))
            _set(doc, target, DEEP)
            what = f"{'.'.join(target)} nested {depth} deep"
        elif roll < 0.90:
            request = doc["request"]
            kind = {"group": _word(rng, 0, 30), "version": _word(rng, 1, 8), "kind": _word(rng)}
            request["kind"] = kind
            request["resource"] = {**kind, "resource": _word(rng)}
            del request["resource"]["kind"]
            request["namespace"] = _word(rng, 1, 63)
            request["name"] = _word(rng, 1, 60)
            request["userInfo"] = {"username": _word(rng), "groups": [_word(rng) for _ in "ab"]}
            if rng.random() < 0.3:
                request["subResource"] = _word(rng, 1, 12)
            what = "random identity"
        else:
            return self._broken_bytes(endpoint, doc)
        body = json.dumps(doc, ensure_ascii=False).encode()
        if depth:
            opening, closing = rng.choice((("[", "]"), ('{"a":', "}")))
            body = body.replace(DEEP_JSON, (opening * depth + "1" + closing * depth).encode())
        return Mutant(endpoint, body, what)

    def _broken_bytes(self, endpoint: str, doc: Any) -> Mutant:
        rng = self.rng
        body = json.dumps(doc).encode()
        cut = rng.randrange(1, len(body))
        kind = rng.choice(("truncated", "invalid utf-8", "NaN", "flipped byte", "trailing data"))
        if kind == "truncated":
            body = body[:cut]
        elif kind == "invalid utf-8":
            body = body.replace(b'"uid"', b'"\xff\xfeuid"', 1)
        elif kind == "NaN":
            body = body.replace(b'"dryRun": false', b'"dryRun": NaN', 1)
        elif kind == "flipped byte":
            body = body[:cut] + bytes([body[cut] ^ 0x20]) + body[cut + 1 :]
        else:
            body = body + b" {}"
        return Mutant(endpoint, body, kind)


def _get(doc: Any, path: FieldPath) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _short(value: Any) -> str:
    text = "deeply nested" if value == DEEP else json.dumps(value)
    return text if len(text) < 40 else text[:37] + "..."


@dataclass
class Tally:
    """Answers by status and code; `failures` keeps a few examples of what went wrong."""

    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, mutant: Mutant, status: int, body: bytes) -> None:
        problem = check_answer(mutant, status, body)
        with self.lock:
            self.sent += 1
            label = str(status)
            if status != 200:
                try:
                    label = f"{status} {json.loads(body)['code']}"
                except (ValueError, KeyError, TypeError):
                    label = f"{status} (no code)"
            self.answers[label] += 1
            if problem is not None:
                self.answers["failed"] += 1
                if len(self.failures) < 20:
                    self.failures.append(f"{mutant.endpoint} [{mutant.what}]: {problem}")


def check_answer(mutant: Mutant, status: int, body: bytes) -> str | None:
    """What is wrong with an answer, or None when it is one a caller can act on."""
    if status >= 500:
        return f"{status}: {body[:200]!r}"
    try:
        answer = json.loads(body)
    except ValueError:
        return f"{status} with a body that is not JSON: {body[:200]!r}"
    if status == 200:
        response = answer.get("response") if isinstance(answer, dict) else None
        if not isinstance(response, dict) or not isinstance(response.get("allowed"), bool):
            return f"200 without an AdmissionReview response: {body[:200]!r}"
        return None
    if not (isinstance(answer, dict) and answer.get("code") and answer.get("message")):
        return f"{status} without a code and message: {body[:200]!r}"
    return None


CRASH_SIGNS = ("unexpected error", "exited", "Exception in ASGI", "chore failed", "Fatal")


def crashes(log: str) -> list[str]:
    """Lines of the server's log that tell of a 500, an exception the app let out, a failed
    background chore or a worker that exited. (Rule errors are logged with their traceback
    too: a fuzzed object makes rules fail, and that is a decision, not a crash.)"""
    return [line for line in log.splitlines() if any(s in line for s in CRASH_SIGNS)]


def fuzz(server: Any, count: int, seed: int, connections: int, seconds: float | None) -> Tally:
    """Send `count` mutants (or as many as fit in `seconds`) over `connections` keep-alive
    connections; each connection's mutants come from its own seeded generator."""
    tally = Tally()
    deadline = time.monotonic() + seconds if seconds else None
    share = [count // connections + (i < count % connections) for i in range(connections)]

    def run(index: int) -> None:
        mutator = Mutator(seed * 1000 + index)
        client = server.client()
        for _ in range(share[index]):
            if deadline is not None and time.monotonic() > deadline:
                return
            mutant = mutator.next_mutant()
            try:
                answer = client.post(mutant.endpoint, mutant.body)
            except OSError as exc:  # includes a connection the server dropped
                with tally.lock:
                    tally.answers["connection error"] += 1
                    tally.failures.append(f"{mutant.endpoint} [{mutant.what}]: {exc!r}")
                client = server.client()
                continue
            tally.add(mutant, answer.status, answer.body)
            if answer.headers.get("connection") == "close":
                client = server.client()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="bodies to send")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.server.harness import start_server

    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        bundle.mkdir()
        (bundle / "fuzz_rules.py").write_text(BUNDLE)
        with start_server(bundle, Path(tmp), workers=args.workers) as server:
            started = time.monotonic()
            tally = fuzz(server, args.count, args.seed, args.connections, None)
            took = time.monotonic() - started
            healthy = server.client().post(
                "/validate", (ROOT / "examples/seed/reviews/pod-ok.json").read_bytes()
            )
            crashed = crashes(server.stderr())
            log_size = server.decisions.stat().st_size if server.decisions.exists() else 0
    print(f"{tally.sent} bodies in {took:.0f} s ({tally.sent / took:.0f}/s), seed {args.seed}")
    for label, n in sorted(tally.answers.items()):
        print(f"  {label:32} {n:8}")
    print(f"decision log: {log_size / 1e6:.1f} MB; afterwards a good review got {healthy.status}")
    print(f"log lines telling of a crash or traceback: {len(crashed)}")
    for line in [*tally.failures, *crashed[:10]]:
        print("  " + line[:300])
    bad = tally.answers["failed"] + tally.answers["connection error"] + len(crashed)
    return 1 if bad or healthy.status != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
