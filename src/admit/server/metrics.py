"""Prometheus metrics (names prefixed `admit_`) summed over the worker processes.

The request path only bumps plain in-memory counters: prometheus-client's own multiprocess mode
costs about 5 µs per observation, more than evaluating the seed policy. Each worker writes a
snapshot of its counters to the metrics directory once a second (and at exit); `/metrics`
merges every snapshot (a dead worker's last one included, so counters never go backwards) and
renders the text exposition with prometheus-client.
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from admit.core.engine import PolicySet
from admit.server.observers import Admission

CONTENT_TYPE = CONTENT_TYPE_LATEST
log = logging.getLogger("admit.reload")
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
RULE_BUCKETS = (1e-5, 5e-5, 1e-4, 5e-4, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2)
_RULE_BUCKETS_NS = tuple(int(b * 1e9) for b in RULE_BUCKETS)
# Label sets per metric: endpoints and results are a closed set and rules come from bundles,
# but reloads that rename rules add label sets for as long as the worker lives. Past the bound,
# new label sets are counted under OVERFLOW (with the result kept last).
MAX_SERIES = 5000
OVERFLOW = "(other)"


class _Series:
    """Per label set: [count, bucket counts (non-cumulative, +Inf last)..., sum] in one list, so
    an observation costs one dict lookup and three increments."""

    __slots__ = ("bounds", "series")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self.series.get(labels) or self.start(labels)
        series[0] += 1
        series[bisect_left(self.bounds, value) + 1] += 1
        series[-1] += value

    def start(self, labels: tuple[str, ...]) -> list[float]:
        """The series of a new label set (or the overflow's, past MAX_SERIES)."""
        if len(self.series) >= MAX_SERIES:
            labels = (*(OVERFLOW for _ in labels[:-1]), labels[-1])
            if labels in self.series:
                return self.series[labels]
        series = self.series[labels] = [0] * (len(self.bounds) + 3)
        return series

    def counts(self) -> dict[tuple[str, ...], float]:
        return {labels: series[0] for labels, series in self.series.items()}

    def histograms(self, scale: float = 1.0) -> dict[tuple[str, ...], list[float]]:
        """Bucket counts, +Inf, then the sum (times `scale`) per label set."""
        return {
            labels: [*series[1:-1], series[-1] * scale] for labels, series in self.series.items()
        }


class Metrics:
    """One worker's metrics; `flush()` publishes them for `/metrics`."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory else None
        self._requests = _Series(REQUEST_BUCKETS)
        self._rules = _Series(_RULE_BUCKETS_NS)  # by (policy, rule, result), in nanoseconds
        self.bundle = ""
        self.decision_log: dict[str, int] = {}  # decision-log events by outcome (see collect)

    def serves(self, policy_set: PolicySet) -> None:
        """A policy store's subscriber: the bundle this worker answers with from now on."""
        self.bundle = policy_set.digest

    def request(self, endpoint: str, result: str, seconds: float) -> None:
        self._requests.observe((endpoint, result), seconds)

    def observe(self, seen: Admission) -> None:
        """An observer of admissions (see `observers`): each rule's outcome and duration."""
        rules = self._rules  # `_Series.observe` inlined: this runs for every rule result
        found, bounds = rules.series, rules.bounds
        for r in seen.decision.results:
            key = r[:3]  # (policy, rule, result)
            ns = r.duration_ns
            series = found.get(key) or rules.start(key)
            series[0] += 1
            series[bisect_left(bounds, ns) + 1] += 1
            series[-1] += ns

    @property
    def requests(self) -> dict[tuple[str, ...], float]:
        """Requests answered by (endpoint, result)."""
        return self._requests.counts()

    @property
    def rule_results(self) -> dict[tuple[str, ...], float]:
        """Rule outcomes by (policy, rule, result)."""
        return self._rules.counts()

    def rule_latency(self) -> dict[tuple[str, ...], list[float]]:
        """Time in each rule by (policy, rule): skipped rules did not run and are left out."""
        merged: dict[tuple[str, ...], list[float]] = {}
        for (policy, rule, result), series in self._rules.histograms(1e-9).items():
            if result == "skip":
                continue
            _accumulate(merged, (policy, rule), series)
        return merged

    def snapshot(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "bundle": self.bundle,
            "requests": [[*k, v] for k, v in self.requests.items()],
            "latency": [[*k, v] for k, v in self._requests.histograms().items()],
            "rule_results": [[*k, v] for k, v in self.rule_results.items()],
            "rule_latency": [[*k, v] for k, v in self.rule_latency().items()],
            "decision_log": [[k, v] for k, v in sorted(self.decision_log.items())],
        }

    def flush(self) -> None:
        """Write this worker's snapshot where `/metrics` reads it (atomically)."""
        if self.directory is None:
            return
        target = self.directory / f"worker-{os.getpid()}.json"
        scratch = target.with_suffix(".tmp")
        scratch.write_bytes(orjson.dumps(self.snapshot()))
        os.replace(scratch, target)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _snapshots(directory: Path | None, live: Metrics | None) -> list[dict[str, Any]]:
    found = {}
    if directory is not None:
        for path in directory.glob("worker-*.json"):
            try:
                snapshot = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            found[snapshot["pid"]] = snapshot
    if live is not None:
        found[os.getpid()] = live.snapshot()  # this worker's freshest numbers
    return list(found.values())


def _sum_counters(snapshots: Iterable[dict[str, Any]], key: str) -> dict[tuple[str, ...], float]:
    total: dict[tuple[str, ...], float] = {}
    for snapshot in snapshots:
        for *labels, value in snapshot.get(key, ()):
            total[tuple(labels)] = total.get(tuple(labels), 0) + value
    return total


def _sum_histograms(
    snapshots: Iterable[dict[str, Any]], key: str
) -> dict[tuple[str, ...], list[float]]:
    total: dict[tuple[str, ...], list[float]] = {}
    for snapshot in snapshots:
        for *labels, series in snapshot.get(key, ()):
            _accumulate(total, tuple(labels), series)
    return total


def _accumulate(
    total: dict[tuple[str, ...], list[float]], labels: tuple[str, ...], series: list[float]
) -> None:
    """Add a histogram's series into `total[labels]`, element by element."""
    into = total.setdefault(labels, [0.0] * len(series))
    for i, value in enumerate(series):
        into[i] += value


def _histogram(
    name: str,
    doc: str,
    labels: list[str],
    bounds: tuple[float, ...],
    data: dict[tuple[str, ...], list[float]],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for label_values, series in sorted(data.items()):
        counts, total = series[:-1], series[-1]
        cumulative, running = [], 0.0
        for bound, count in zip([*map(str, bounds), "+Inf"], counts, strict=True):
            running += count
            cumulative.append((bound, running))
        family.add_metric(list(label_values), cumulative, total)
    return family


class _Collector:
    def __init__(self, snapshots: list[dict[str, Any]]) -> None:
        self.snapshots = snapshots

    def collect(self) -> Iterable[Any]:
        s = self.snapshots
        alive = [x for x in s if _alive(x["pid"])]
        yield _counted(
            CounterMetricFamily,
            "admit_requests",
            "Requests answered, by endpoint and result.",
            ["endpoint", "result"],
            _sum_counters(s, "requests"),
        )
        yield _histogram(
            "admit_request_duration_seconds",
            "Time to answer a request.",
            ["endpoint", "result"],
            REQUEST_BUCKETS,
            _sum_histograms(s, "latency"),
        )
        yield _counted(
            CounterMetricFamily,
            "admit_rule_results",
            "Rule outcomes (pass, fail, warn, error, skip).",
            ["policy", "rule", "result"],
            _sum_counters(s, "rule_results"),
        )
        yield _histogram(
            "admit_rule_duration_seconds",
            "Time spent in each rule.",
            ["policy", "rule"],
            RULE_BUCKETS,
            _sum_histograms(s, "rule_latency"),
        )
        yield _counted(
            CounterMetricFamily,
            "admit_bundle_reloads",
            "Bundle loads after a change, by result.",
            ["result"],
            _sum_counters(s, "reloads"),
        )
        yield _counted(
            CounterMetricFamily,
            "admit_process_exits",
            "Worker, policy source and console processes that ended (and were replaced).",
            ["role", "reason"],
            _sum_counters(s, "exits"),
        )
        yield _counted(
            GaugeMetricFamily,
            "admit_rule_quarantined",
            "Rules not run (answered by their on_error) since they ended their worker; the "
            "value is how many times.",
            ["rule"],
            _sum_counters(s, "quarantined"),
        )
        decision_log = _sum_counters(s, "decision_log")
        failures = decision_log.pop(("failures",), 0)
        yield _counted(
            CounterMetricFamily,
            "admit_decision_log_events",
            "Decision-log events by outcome: uploaded (to --decision-log-url), dropped (the "
            "upload buffer overflowed, or the service was down at exit), too_large (even "
            "without input and result), dropped_by_policy (system/log/drop), failed (not built).",
            ["outcome"],
            decision_log,
        )
        yield _counted(
            CounterMetricFamily,
            "admit_decision_log_upload_failures",
            "Decision-log uploads that failed (each batch is retried with backoff).",
            [],
            {(): failures},
        )
        yield from _audit_families(alive)
        yield _counted(
            GaugeMetricFamily,
            "admit_bundle_info",
            "The bundle each live worker serves.",
            ["digest"],
            {(x["bundle"],): 1 for x in alive if x["bundle"]},
        )


def _counted(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    labels: list[str],
    values: dict[tuple[str, ...], float],
) -> CounterMetricFamily | GaugeMetricFamily:
    """A metric family with one sample per label tuple, in label order."""
    metric = family(name, documentation, labels=labels)
    for label_values, value in sorted(values.items()):
        metric.add_metric(list(label_values), value)
    return metric


def _audit_families(alive: list[dict[str, Any]]) -> Iterable[Any]:
    """`serve --audit-interval`: what the audit process of this replica found (gauges, from
    live processes only: a restarted audit's last snapshot must not count twice)."""
    if not any("audit_leader" in x for x in alive):
        return
    yield _counted(
        GaugeMetricFamily,
        "admit_audit_violations",
        "Existing objects' findings that did not pass (fail, warn, error, excepted), by policy "
        "and namespace; 0 on a replica that does not lead the audit.",
        ["policy", "namespace", "result"],
        _sum_counters(alive, "audit_findings"),
    )
    yield _counted(
        GaugeMetricFamily,
        "admit_audit_objects",
        "Existing objects audited, by resource.",
        ["resource"],
        _sum_counters(alive, "audit_objects"),
    )
    yield _counted(
        GaugeMetricFamily,
        "admit_audit_leader",
        "1 while this replica holds the audit lease and writes the reports.",
        ["identity"],
        _sum_counters(alive, "audit_leader"),
    )
    yield _counted(
        CounterMetricFamily,
        "admit_audit_judgements",
        "Objects judged by the audit (each change, once).",
        [],
        {(): sum(_sum_counters(alive, "audit_evaluations").values())},
    )


def exposition(directory: Path | None = None, live: Metrics | None = None) -> bytes:
    """The text exposition of every worker's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(_snapshots(directory, live)))
    return generate_latest(registry)


def totals(directory: Path | None) -> dict[str, Any]:
    """Every worker's counters merged, for the console: `requests` and `rule_results` by label
    tuple, `latency` and `rule_latency` as histograms (bucket counts, +Inf, then the sum), and
    the live `workers` as (pid, bundle digest)."""
    s = _snapshots(directory, None)
    return {
        "requests": _sum_counters(s, "requests"),
        "latency": _sum_histograms(s, "latency"),
        "rule_results": _sum_counters(s, "rule_results"),
        "rule_latency": _sum_histograms(s, "rule_latency"),
        "workers": sorted((x["pid"], x["bundle"]) for x in s if _alive(x["pid"])),
    }
