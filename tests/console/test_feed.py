"""The decision feed: workers queue and send, the console keeps a ring and fans out; nothing
that goes wrong on the console's side reaches the admission path."""

import asyncio
import json

import pytest

from admit.console.decisions import DecisionFeed
from admit.core.engine import evaluate
from admit.core.review import Request
from admit.loading.loader import load_bundle
from admit.server.feed import MAX_PENDING, FeedPublisher, decode, encode, record
from admit.server.observers import Admission
from tests.helpers import SEED

BAD_TAG = (SEED / "reviews" / "pod-bad-tag.json").read_bytes()


@pytest.fixture(scope="module")
def judged():
    review = json.loads(BAD_TAG)
    request = Request(review["request"])
    return request, evaluate(load_bundle(SEED), request)


@pytest.fixture
def socket_path(tmp_path_factory):
    # UNIX socket paths are short; pytest's tmp dirs can be long
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="feed-")) / "feed.sock"


def publish(publisher, judged, body=BAD_TAG):
    request, decision = judged
    publisher.observe(Admission(request, decision, body, "/validate", 0.002, "ab" * 32))


def test_a_frame_carries_the_decision_and_the_request_it_judged(judged):
    _, decision = judged
    frame = encode(record(decision, endpoint="/validate", seconds=0.002, bundle="c" * 64), BAD_TAG)
    [entry] = decode(frame + frame[:7])  # a torn trailing frame is ignored
    assert entry["allowed"] is False
    assert entry["message"] == "192.168.64.1:5000/nginx:latest tag end with :latest"
    assert (entry["kind"], entry["namespace"], entry["name"], entry["operation"]) == (
        "v1/Pod",
        "default",
        "web-server",
        "CREATE",
    )
    assert entry["user"] == "kubernetes-admin"
    failed = [r for r in entry["results"] if r["result"] == "fail"]
    assert failed[0]["rule"] == "disallow_latest_tag"
    assert failed[0]["violations"] == [
        ["192.168.64.1:5000/nginx:latest tag end with :latest", "spec.containers[0].image", "deny"]
    ]
    assert entry["request"]["object"]["spec"]["containers"][0]["image"].endswith(":latest")
    assert "managedFields" not in entry["request"]["object"]["metadata"]
    assert entry["bundle"] == "c" * 12


def test_a_body_over_the_cap_travels_without_the_request(judged):
    _, decision = judged
    frame = encode(record(decision, endpoint="/validate", seconds=0, bundle=""), b"x" * 100_000)
    [entry] = decode(frame)
    assert "over the feed's cap" in entry["request_omitted"]
    assert entry["request"]["object"] is None


def test_publishing_without_a_console_drops_quietly(judged, socket_path):
    publisher = FeedPublisher(socket_path)
    for _ in range(3):
        publish(publisher, judged)
    publisher.flush()
    publisher.close()
    assert (publisher.sent, publisher.dropped) == (0, 3)


def test_a_full_queue_drops_instead_of_growing(judged, socket_path):
    publisher = FeedPublisher(socket_path)
    for _ in range(MAX_PENDING + 5):
        publish(publisher, judged)
    publisher.close()
    assert publisher.dropped == 5


def test_the_console_receives_every_workers_decisions_in_a_bounded_ring(judged, socket_path):
    async def scenario():
        feed = DecisionFeed(socket_path, size=4)
        feed.start(asyncio.get_running_loop())
        watcher = feed.watch()
        workers = [FeedPublisher(socket_path), FeedPublisher(socket_path)]
        for i in range(6):
            publish(workers[i % 2], judged)
        for w in workers:
            w.flush()
            w.close()
        streamed = []
        while len(streamed) < 4:
            await asyncio.wait_for(watcher.wait(), 2)
            streamed += watcher.take()
        feed.close(asyncio.get_running_loop())
        return feed, streamed, workers

    feed, streamed, workers = asyncio.run(scenario())
    assert [e.id for e in streamed][-4:] == [3, 4, 5, 6]
    assert [e.id for e in feed.recent] == [3, 4, 5, 6]
    assert feed.get(6)["message"].endswith("tag end with :latest")
    assert feed.get(1) is None
    assert sum(w.sent for w in workers) == 6
    assert not socket_path.exists()


def test_a_slow_stream_misses_what_left_the_ring_and_holds_nothing(socket_path):
    feed = DecisionFeed(socket_path, size=3)
    watcher = feed.watch()
    for _ in range(5):
        feed.add({"results": []})
    assert [e.id for e in watcher.take()] == [3, 4, 5]  # 1 and 2 are gone from the ring
    assert watcher.take() == []
    feed.add({"results": []})
    assert [e.id for e in watcher.take()] == [6]
    assert len(feed.recent) == 3
