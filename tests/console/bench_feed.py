"""Measures FeedPublisher.publish per decision (run: .venv/bin/python tests/console/bench_feed.py).

Not collected by pytest (no test_ prefix); the number goes in the issue notes."""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from admit.core.engine import evaluate
from admit.core.review import Request
from admit.loading.loader import load_bundle
from admit.server.feed import FeedPublisher
from admit.server.observers import Admission

READER = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(sys.argv[1])
while True:
    s.recv(70000)
"""
SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"


def per_call(publish, n=20000):
    """Mean µs per call."""
    start = time.perf_counter()
    for _ in range(n):
        publish()
    return (time.perf_counter() - start) / n * 1e6


def main():
    policy_set = load_bundle(SEED)
    body = (SEED / "reviews" / "pod-bad-tag.json").read_bytes()
    review = json.loads(body)
    request = Request(review["request"])
    decision = evaluate(policy_set, request)
    eval_us = per_call(lambda: evaluate(policy_set, Request(review["request"])))
    path = Path(tempfile.mkdtemp()) / "feed.sock"
    publisher = FeedPublisher(path)

    def publish():
        publisher.observe(Admission(request, decision, body, "/validate", 0.001, "x" * 64))

    def publish_and_flush():  # the whole cost: the request path's queueing and the chore's send
        publish()
        if len(publisher._pending) >= 100:
            publisher.flush()

    queue_only = per_call(lambda: (publish(), publisher._pending.clear()))
    absent = per_call(publish_and_flush)
    # the console's end in another process, as in production (a thread would share our GIL)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path)])
    while not path.exists():
        time.sleep(0.01)
    publisher = FeedPublisher(path)  # a fresh one: the first remembers the console was absent
    present = per_call(publish_and_flush, 20000)
    reader.terminate()
    reader.wait()
    print(f"evaluate (seed, bad tag):        {eval_us:6.1f} µs")
    print(f"publish (request path, queue):   {queue_only:6.1f} µs")
    print(f"publish+flush, console absent:       {absent:6.1f} µs")
    print(
        f"publish, console reading:      {present:6.1f} µs  (sent {publisher.sent}, dropped {publisher.dropped})"
    )


if __name__ == "__main__":
    main()
