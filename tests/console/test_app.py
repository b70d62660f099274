"""The console's ASGI app, called directly: policies with parameters and source, status,
decisions, the playground, metrics, and that it is read-only."""

import asyncio
import json

import pytest

from admit.console.stats import quantile
from admit.core.engine import evaluate
from admit.server.feed import decode, encode, record
from tests.helpers import SEED

POD = """apiVersion: v1
kind: Pod
metadata: {name: web-server, namespace: default}
spec:
  containers:
  - {name: web-server, image: "nginx:1.21.1"}
"""


def call(app, method, path, body=b"", content_type=b"application/json"):
    """(status, headers, body) of one request to the ASGI app."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "method": method, "path": path, "query_string": query.encode(),
        "headers": [(b"content-type", content_type)],
    }  # fmt: skip
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def api(app, path):
    status, _, body = call(app, "GET", path)
    assert status == 200, body
    return json.loads(body)


def test_the_start_page_and_its_assets_are_served_from_the_package(app):
    status, headers, body = call(app, "GET", "/")
    assert status == 200
    assert b"/static/console.js" in body
    assert b"http" not in body.replace(b"http://www.w3.org", b"")  # nothing from elsewhere
    assert b"default-src 'self'" in headers[b"content-security-policy"]
    for name in ("console.js", "console.css"):
        assert call(app, "GET", f"/static/{name}")[0] == 200
    assert call(app, "GET", "/static/../app.py")[0] == 404


def test_policies_show_rules_matches_and_parameters_with_their_overrides(app):
    policies = api(app, "/api/policies")
    [module] = policies["modules"]
    rules = {r["name"]: r for r in module["rules"]}
    registry = rules["trusted_registry"]
    assert registry["match"] == {"kinds": ["Pod"], "operations": ["CREATE", "UPDATE"]}
    assert registry["action"] == "enforce"
    assert registry["params"] == [
        {
            "name": "repo_prefix",
            "type": "str",
            "default": "192.168.64.1",
            "value": "registry.example.com",
            "overridden": True,
        }
    ]
    assert rules["disallow_latest_tag"]["params"][0]["overridden"] is False


def test_the_source_is_highlighted_and_limited_to_the_bundles_modules(app):
    file = api(app, "/api/policies")["modules"][0]["file"]
    source = api(app, f"/api/source?file={file}")
    assert '<span class="kw">def</span> <span class="def">trusted_registry</span>' in source["html"]
    assert '<span class="str">&quot;CREATE&quot;</span>' in source["html"]
    assert call(app, "GET", "/api/source?file=/etc/passwd")[0] == 404


def test_status_reports_the_digest_and_the_last_reload_error_with_its_location(app, bundle):
    assert api(app, "/api/status")["reload"]["last_error"] is None
    (bundle / "trusted_images.py").write_text("import admit\n\ndef broken(:\n")
    app.published.check()
    status = api(app, "/api/status")
    assert status["bundle"]["digest"] == app.policies.current().digest
    problems = status["reload"]["last_error"]["problems"]
    assert "trusted_images.py:3: syntax_error: invalid syntax" in problems
    assert status["reload"]["history"][-1]["result"] == "error"


def test_decisions_are_listed_in_brief_and_shown_in_full(app):
    review = (SEED / "reviews" / "pod-bad-repo.json").read_bytes()
    from admit.core.review import Request

    request = Request(json.loads(review)["request"])
    decision = evaluate(app.policies.current(), request)
    for entry in decode(
        encode(record(decision, endpoint="/validate", seconds=0.001, bundle="x"), review)
    ):
        app.feed.add(entry)
    [brief] = api(app, "/api/decisions")["decisions"]
    assert "request" not in brief
    assert brief["message"] == "nginx:1.21.1 repo not start with registry.example.com"
    full = api(app, f"/api/decisions/{brief['id']}")
    assert full["request"]["object"]["spec"]["containers"][0]["image"] == "nginx:1.21.1"
    assert call(app, "GET", "/api/decisions/999")[0] == 404


def test_the_playground_evaluates_yaml_as_the_webhook_would(app):
    body = json.dumps(
        {"text": POD, "operation": "CREATE", "username": "alice", "groups": "devs"}
    ).encode()
    status, _, answer = call(app, "POST", "/api/playground", body)
    assert status == 200, answer
    [decision] = json.loads(answer)["decisions"]
    assert decision["allowed"] is False
    assert decision["message"] == "nginx:1.21.1 repo not start with registry.example.com"
    assert (decision["user"], decision["groups"]) == ("alice", ["devs", "system:authenticated"])
    assert decision["endpoint"] == "playground"


def test_the_playground_explains_bad_input_and_refuses_forms(app):
    status, _, answer = call(app, "POST", "/api/playground", json.dumps({"text": "a: [b"}).encode())
    assert status == 400
    assert "neither JSON nor YAML at line 2, column 1" in json.loads(answer)["message"]
    form = call(app, "POST", "/api/playground", b"text=x", b"application/x-www-form-urlencoded")
    assert form[0] == 415


def test_the_console_is_read_only(app):
    for method in ("POST", "PUT", "DELETE"):
        assert call(app, method, "/api/policies")[0] == 405


def test_quantiles_interpolate_inside_a_bucket():
    bounds = (0.001, 0.01, 0.1)
    assert quantile([0, 10, 0, 0, 0.05], bounds, 0.5) == pytest.approx(0.0055)
    assert quantile([0, 0, 0, 0, 0], bounds, 0.5) is None


def test_the_stream_sends_each_new_decision_as_an_event(app):
    async def scenario():
        sent = []
        request_done, leave = asyncio.Event(), asyncio.Event()
        messages = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive():
            if messages:
                return messages.pop()
            await leave.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            request_done.set()

        scope = {"type": "http", "method": "GET", "path": "/api/stream", "headers": []}
        task = asyncio.ensure_future(app(scope, receive, send))
        await asyncio.sleep(0.05)
        app.feed.add({"results": [], "allowed": False, "request": {"big": "x"}})
        await asyncio.sleep(0.05)
        leave.set()
        await asyncio.wait_for(task, 2)
        return sent

    sent = asyncio.run(scenario())
    assert dict(sent[0]["headers"])[b"content-type"] == b"text/event-stream"
    events = [m["body"] for m in sent[1:] if m["body"].startswith(b"id:")]
    assert events == [
        b'id: 1\nevent: decision\ndata: {"results":[],"allowed":false,"id":1,"patch":0}\n\n'
    ]
    assert sent[-1] == {"type": "http.response.body", "body": b""}
