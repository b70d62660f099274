"""The console answers only requests for its own host (DNS rebinding), and the playground
bounds what is pasted: documents, values as YAML aliases expand them, depth, answer size."""

import asyncio
import json
import time

import pytest

from admit.console.app import ConsoleApp
from admit.console.decisions import DecisionFeed
from admit.console.hosts import host_allowed, host_names
from admit.console.playground import MAX_ANSWER, MAX_DEPTH, MAX_DOCUMENTS, MAX_VALUES
from admit.console.stats import MetricsHistory
from admit.core.engine import evaluate
from admit.loading.loader import load_bundle
from admit.server.policies import FixedPolicies
from tests.console.test_app import POD, call
from tests.helpers import SEED

# 546 bytes of YAML that expand, through their aliases, to 9 ** 9 (387 million) strings.
ALIAS_BOMB = """apiVersion: v1
kind: Pod
metadata: {name: x}
spec:
  containers: [{name: c,image: "192.168.64.1:5000/nginx:1.21.1"}]
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.fixture
def console(tmp_path):
    return ConsoleApp(
        FixedPolicies(load_bundle(SEED)),
        DecisionFeed(tmp_path / "unused.sock"),
        MetricsHistory(None),
        evaluate,
        host_names=host_names("127.0.0.1", ["admit-console.example.com"]),
    )


def get(console, path, host):
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"",
             "headers": [(b"host", host)]}  # fmt: skip
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(console(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize(
    "host",
    [b"127.0.0.1:6060", b"localhost:6060", b"LOCALHOST", b"[::1]:6060", b"10.1.2.3",
     b"admit-console.example.com:6060", b"localhost."],
)  # fmt: skip
def test_the_console_answers_its_own_hosts(console, host):
    assert get(console, "/api/status", host)[0] == 200


@pytest.mark.parametrize(
    "host",
    [b"evil.example", b"evil.example:6060", b"127.0.0.1.nip.io", b"localhost.evil.example",
     b"[::1", b"::1", b"a:b:c", b""],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/", "/api/decisions", "/api/stream", "/api/policies"])
def test_a_request_for_another_host_is_refused_whatever_it_asks(console, host, path):
    status, body = get(console, path, host)
    assert status == 403
    answer = json.loads(body)
    assert answer["code"] == "forbidden_host"
    assert "--console-allowed-host" in answer["message"]


def test_names_come_from_the_listen_address_and_the_allowed_list():
    assert host_names("0.0.0.0") == {"localhost"}
    assert host_names("console.internal", ["a.example:80", " B.example "]) == {
        "localhost", "console.internal", "a.example", "b.example"}  # fmt: skip
    assert host_allowed(None, frozenset())  # no Host header: not a browser
    assert not host_allowed(b"\xff\xfe", frozenset({"localhost"}))


def paste(console, text, **options):
    body = json.dumps({"text": text, **options}).encode()
    started = time.monotonic()
    status, _, answer = call(console, "POST", "/api/playground", body)
    return status, json.loads(answer), len(answer), time.monotonic() - started


def test_a_yaml_alias_bomb_is_refused_before_it_expands(console):
    assert len(ALIAS_BOMB) == 546
    status, answer, size, seconds = paste(console, ALIAS_BOMB)
    assert status == 400
    assert answer["code"] == "invalid_input"
    assert f"more than {MAX_VALUES:,} values" in answer["message"]
    assert size < 1000
    assert seconds < 2


def test_merge_keys_are_counted_as_they_expand(console):
    levels = ["a0: &a0 {x: 1, y: 2}"] + [
        f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], z{i}: 1}}" for i in range(1, 40)
    ]
    status, answer, _, seconds = paste(console, "\n".join(levels))
    assert status == 400
    assert "values" in answer["message"]
    assert seconds < 2


def test_a_value_that_contains_itself_is_refused(console):
    status, answer, _, _ = paste(console, "apiVersion: v1\nkind: Pod\nspec: &a {x: *a}\n")
    assert status == 400
    assert "refers to a value that contains it" in answer["message"]


def test_too_deep_too_many_documents_or_too_large_an_answer_is_refused(console):
    deep = json.dumps({"apiVersion": "v1", "kind": "Pod", "spec": "DEEP"})
    deep = deep.replace('"DEEP"', "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5))
    assert f"nested more than {MAX_DEPTH} levels" in paste(console, deep)[1]["message"]
    many = "\n---\n".join([POD] * (MAX_DOCUMENTS + 1))
    assert f"at most {MAX_DOCUMENTS} documents" in paste(console, many)[1]["message"]
    long = "x" * 1000
    wide = POD + f"  a: &s {long}\n  b: [{', '.join(['*s'] * 5000)}]\n"
    status, answer, _, _ = paste(console, wide)
    assert status == 400
    assert f"the answer would pass {MAX_ANSWER // 1024 // 1024} MiB" in answer["message"]
    assert paste(console, POD)[0] == 200


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"operation": ["CREATE"]}, "operation, namespace, username and groups are strings"),
        ({"groups": [1]}, "operation, namespace, username and groups are strings"),
        ({"operation": "PATCH"}, "operation 'PATCH' is not one of"),
    ],
)
def test_playground_options_of_the_wrong_type_are_a_400(console, options, words):
    status, answer, _, _ = paste(console, POD, **options)
    assert status == 400
    assert words in answer["message"]


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"apiVersion": "v1", "kind": "Pod", "metadata": []}, "metadata must be an object"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 5}}, "metadata.name must be"),
        ({"apiVersion": "v1", "kind": ["Pod"]}, "kind must be a string"),
        ({"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
          "uid": "u", "userInfo": {"groups": "x"}}, "request.userInfo.groups must be an array"),
        ({"kind": "AdmissionReview", "request": {"uid": "u", "kind": [], "operation": "CREATE"}},
         "request.kind must be an object"),
    ],
)  # fmt: skip
def test_a_pasted_document_of_the_wrong_shape_is_a_400_naming_the_field(console, document, words):
    status, answer, _, _ = paste(console, json.dumps(document))
    assert status == 400
    assert words in answer["message"]
