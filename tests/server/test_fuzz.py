"""Seeded fuzzing over the real server (two workers, TLS): recorded AdmissionReviews with a wrong
type in every field, fields removed or added, deep nesting, random identities and broken bytes
get no 500 and crash no worker. `bench/fuzz_admission.py --count 100000` is the long run."""

import importlib.util
import sys
import time

import pytest

from tests.helpers import ROOT, SEED, write_bundle
from tests.server.harness import start_server

BODIES = 15000  # about 14 s on an idle 2-core machine; the time bound keeps a busy one at 20 s
SECONDS = 20


def _fuzzer():
    spec = importlib.util.spec_from_file_location(
        "fuzz_admission", ROOT / "bench" / "fuzz_admission.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fuzz_admission = _fuzzer()


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory, tls):
    tmp = tmp_path_factory.mktemp("fuzz")
    bundle = write_bundle(tmp / "bundle", {"fuzz_rules.py": fuzz_admission.BUNDLE})
    with start_server(bundle, tmp, workers=2, tls=tls) as server:
        yield server


def test_the_same_seed_makes_the_same_bodies():
    first, second = fuzz_admission.Mutator(5), fuzz_admission.Mutator(5)
    assert [first.next_mutant().body for _ in range(50)] == [
        second.next_mutant().body for _ in range(50)
    ]


def test_fuzzed_reviews_get_no_500_and_crash_no_worker(fuzzed_server):
    workers = fuzzed_server.worker_pids()
    started = time.monotonic()
    tally = fuzz_admission.fuzz(fuzzed_server, BODIES, seed=1, connections=4, seconds=SECONDS)
    assert time.monotonic() - started < SECONDS + 10
    assert tally.sent >= min(BODIES, 1000)  # even a slow machine sends a thousand
    assert tally.failures == []
    assert tally.answers["failed"] == 0
    assert not any(label.startswith("5") for label in tally.answers)
    assert tally.answers["200"] > 0
    assert tally.answers["400 invalid_review"] > 0
    assert tally.answers["400 invalid_json"] > 0
    assert fuzz_admission.crashes(fuzzed_server.stderr()) == []
    assert fuzzed_server.worker_pids() == workers  # no worker died and was replaced
    good = (SEED / "reviews" / "pod-ok.json").read_bytes()
    assert fuzzed_server.client().post("/validate", good).json()["response"]["allowed"] is True
