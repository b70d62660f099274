"""An open port is not a memory lever: every cache keyed by request data is bounded. Waves of
requests with random kinds, resources, subresources, namespaces and users go to the real server
(two workers) while a good client keeps asking. The first wave may fill the bounded caches (the
engine's per-kind index, the decision log's kind names): that costs each worker a few MB, once.
After it, each wave leaves every worker's memory within 10% of where it was, and the good
client is answered throughout. (Before the bounds, each wave grew a worker by several MB.)"""

import json
import random
import string
import threading
from pathlib import Path

import pytest

from tests.helpers import SEED
from tests.server.harness import start_server
from tests.server.pipeline import Pipeline

GOOD = (SEED / "reviews" / "pod-ok.json").read_bytes()
WAVES = 5
PER_WAVE = 6000  # per wave, over 4 connections: 30,000 requests in ~11 s on the test machine
GROWTH = 1.10
FILL_KIB = 10 * 1024  # what the first wave may add: every bounded cache filled


def template() -> bytes:
    """The recorded review with placeholders where the identity of the request goes."""
    doc = json.loads(GOOD)
    request = doc["request"]
    request["kind"] = request["requestKind"] = {"group": "@G@", "version": "@V@", "kind": "@K@"}
    resource = {"group": "@G@", "version": "@V@", "resource": "@R@"}
    request["resource"] = request["requestResource"] = resource
    request["subResource"] = request["requestSubResource"] = "@S@"
    request.update(namespace="@N@", name="@M@")
    request["userInfo"] = {"username": "@U@", "groups": ["@U@", "system:authenticated"]}
    return json.dumps(doc).encode()


def random_reviews(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    body = template()

    def word(low: int, high: int) -> bytes:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(low, high))).encode()

    reviews = []
    for _ in range(count):
        review = body
        for mark, (low, high) in (
            (b"@G@", (20, 60)), (b"@V@", (2, 8)), (b"@K@", (20, 60)), (b"@R@", (20, 60)),
            (b"@S@", (0, 12)), (b"@N@", (5, 60)), (b"@M@", (5, 60)), (b"@U@", (5, 60)),
        ):  # fmt: skip
            review = review.replace(mark, word(low, high))
        reviews.append(review)
    return reviews


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class GoodClient(threading.Thread):
    """Sends the recorded review until stopped; counts answers that were not an allow."""

    def __init__(self, server) -> None:
        super().__init__(daemon=True)
        self.client = server.client()
        self.sent = 0
        self.failed: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                answer = self.client.post("/validate", GOOD)
                allowed = answer.status == 200 and answer.json()["response"]["allowed"] is True
            except OSError as exc:
                allowed, answer = False, exc
            self.sent += 1
            if not allowed:
                self.failed.append(repr(answer)[:200])


@pytest.fixture(scope="module")
def server(tmp_path_factory, tls):
    tmp = tmp_path_factory.mktemp("memory")
    with start_server(SEED, tmp, workers=2, tls=tls) as server:
        yield server


def send_wave(server, reviews: list[bytes], connections: int = 4) -> dict[int, int]:
    """Send the reviews over `connections` pipelined connections; statuses counted."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run(share: list[bytes]) -> None:
        pipeline = Pipeline(server.port, server.tls)
        try:
            for status, _ in pipeline.post_all("/validate", share):
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            pipeline.close()

    threads = [threading.Thread(target=run, args=(reviews[i::connections],))
               for i in range(connections)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_random_identities_leave_worker_memory_within_ten_percent(server):
    workers = server.worker_pids()
    send_wave(server, [GOOD] * 2000)  # warm: what any traffic allocates once
    warm = {pid: rss_kib(pid) for pid in workers}
    good = GoodClient(server)
    good.start()
    try:
        for wave in range(WAVES):
            statuses = send_wave(server, random_reviews(wave, PER_WAVE))
            assert statuses == {200: PER_WAVE}, statuses  # unknown kinds: no rule, allowed
            after = {pid: rss_kib(pid) for pid in workers}
            if wave == 0:
                assert all(after[p] - warm[p] <= FILL_KIB for p in workers), (warm, after)
                filled = after
            else:
                assert all(after[p] <= filled[p] * GROWTH for p in workers), (wave, filled, after)
    finally:
        good.stop.set()
        good.join(30)
    assert good.failed == []
    assert good.sent > 0
    assert server.worker_pids() == workers
    assert server.client().post("/validate", GOOD).json()["response"]["allowed"] is True
