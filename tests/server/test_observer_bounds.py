"""The observers of a decision (decision log, metrics, console feed) are bounded in memory
whatever the requests carry, and none of them can fail the request it records."""

import asyncio
import json

import pytest

from admit.console.decisions import MAX_SUBSCRIBERS, DecisionFeed, FeedBusy
from admit.core.decision import decide
from admit.core.outcome import RuleResult, Violation
from admit.core.review import Request
from admit.server.decision_log import DecisionLog
from admit.server.feed import MAX_TEXT, MAX_VIOLATIONS, FeedPublisher, decode, encode, record
from admit.server.metrics import MAX_SERIES, OVERFLOW, Metrics
from admit.server.observers import Admission
from tests.helpers import SEED

REVIEW = json.loads((SEED / "reviews" / "pod-ok.json").read_text())


def request_of_kind(kind: str) -> Request:
    raw = dict(REVIEW["request"], kind={"group": "example.com", "version": "v1", "kind": kind})
    return Request(raw)


def seen(request: Request, decision, endpoint: str = "/validate") -> Admission:
    """The admission as the observers see it (the body, answer and set do not matter here)."""
    return Admission(request, decision, b"{}", endpoint, 0.0, "b", answer=b"{}")


def test_the_decision_log_caches_a_bounded_number_of_kind_names(tmp_path):
    log = DecisionLog(str(tmp_path / "decisions.jsonl"))
    for i in range(3000):
        log.record(seen(request_of_kind(f"Kind{i}"), decide([])))
    log.close()
    assert len(log._kinds) <= 1024
    lines = (tmp_path / "decisions.jsonl").read_text().splitlines()
    assert len(lines) == 3000
    assert json.loads(lines[-1])["kind"] == "example.com/v1/Kind2999"


def test_a_line_the_log_cannot_build_is_counted_never_raised(tmp_path, caplog):
    log = DecisionLog(str(tmp_path / "decisions.jsonl"))
    unencodable = RuleResult("p", "r", "fail", "enforce", (Violation("\ud800 lone surrogate"),))
    for _ in range(2):
        log.record(seen(request_of_kind("Pod"), decide([unencodable])))
    log.record(seen(request_of_kind("Pod"), decide([])))
    log.close()
    assert log.failed == 2
    assert len((tmp_path / "decisions.jsonl").read_text().splitlines()) == 1
    assert caplog.text.count("decision log: no line for") == 1  # the first one only


def test_metric_label_sets_are_bounded_and_nothing_is_lost(tmp_path):
    metrics = Metrics(None)
    for i in range(MAX_SERIES + 500):
        metrics.observe(seen(request_of_kind("Pod"), decide([RuleResult(f"policy{i}", "rule", "pass", "enforce")])))
    counts = metrics.rule_results
    assert len(counts) <= MAX_SERIES + 1
    assert counts[(OVERFLOW, OVERFLOW, "pass")] == 500
    assert sum(counts.values()) == MAX_SERIES + 500


def test_the_feed_record_cuts_violations_and_texts():
    many = tuple(Violation("x" * 5000, f"spec.containers[{i}].image") for i in range(100))
    decision = decide([RuleResult("p", "r", "fail", "enforce", many)])
    sent = record(decision, endpoint="/validate", seconds=0, bundle="b")
    [row] = sent["results"]
    assert len(row[4]) == MAX_VIOLATIONS
    assert all(len(message) == MAX_TEXT for message, _, _ in row[4])
    [entry] = decode(encode(sent, json.dumps(REVIEW).encode()))
    assert entry["results"][0]["violations_omitted"] == 100 - MAX_VIOLATIONS
    assert len(entry["message"]) == MAX_TEXT


def test_an_entry_the_feed_cannot_encode_is_dropped_and_counted(tmp_path):
    decision = decide([], patch=[{"op": "add", "path": "/a", "value": {1, 2}}])  # not JSON
    assert encode(record(decision, endpoint="/mutate", seconds=0, bundle="b"), b"{}") is None
    publisher = FeedPublisher(tmp_path / "absent.sock")
    publisher.observe(seen(request_of_kind("Pod"), decision, endpoint="/mutate"))
    publisher.flush()
    publisher.close()
    assert (publisher.sent, publisher.dropped) == (0, 1)


def test_the_console_keeps_entries_within_a_byte_bound(tmp_path):
    feed = DecisionFeed(tmp_path / "unused.sock", size=500, max_bytes=200_000)
    for i in range(100):
        feed.add({"results": [], "request": {"object": {"blob": "x" * 10_000}}, "n": i})
    kept = list(feed.recent)
    assert sum(len(e.summary) + len(e.detail) for e in kept) <= 200_000
    assert 10 <= len(kept) < 100
    assert feed.get(kept[-1].id)["n"] == 99
    assert feed.get(1) is None


def test_an_entry_nested_too_deep_to_encode_is_skipped(tmp_path):
    feed = DecisionFeed(tmp_path / "unused.sock")
    deep: object = 1
    for _ in range(300):  # orjson encodes 254 levels at most
        deep = [deep]
    assert feed.add({"results": [], "request": {"object": {"a": deep}}}) is None
    assert feed.skipped == 1
    assert feed.add({"results": []}) is not None


def test_live_streams_are_bounded(tmp_path):
    async def scenario():
        feed = DecisionFeed(tmp_path / "unused.sock")
        watchers = [feed.watch() for _ in range(MAX_SUBSCRIBERS)]
        with pytest.raises(FeedBusy):
            feed.watch()
        feed.unwatch(watchers[0])
        feed.watch()

    asyncio.run(scenario())
