"""Prometheus metrics, names prefixed `admit_`, aggregated across worker processes.

prometheus-client's multiprocess mode keeps each worker's values in files under
`PROMETHEUS_MULTIPROC_DIR` (set by the supervisor before any worker starts); `/metrics` sums them.
Labelled children are cached here because `.labels()` is costly on the request path.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from admit.core.decision import Decision

CONTENT_TYPE = CONTENT_TYPE_LATEST
log = logging.getLogger("admit.reload")
_REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_RULE_BUCKETS = (1e-5, 5e-5, 1e-4, 5e-4, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2)


class Metrics:
    """The server's metrics; one instance per worker process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        kw: dict[str, Any] = {"registry": registry} if registry is not None else {}
        self.requests = Counter(
            "admit_requests_total",
            "Requests answered, by endpoint and result.",
            ["endpoint", "result"],
            **kw,
        )
        self.latency = Histogram(
            "admit_request_duration_seconds",
            "Time to answer a request, by endpoint and result.",
            ["endpoint", "result"],
            buckets=_REQUEST_BUCKETS,
            **kw,
        )
        self.rule_results = Counter(
            "admit_rule_results_total",
            "Rule outcomes (pass, fail, warn, error, skip).",
            ["policy", "rule", "result"],
            **kw,
        )
        self.rule_latency = Histogram(
            "admit_rule_duration_seconds",
            "Time spent in each rule.",
            ["policy", "rule"],
            buckets=_RULE_BUCKETS,
            **kw,
        )
        self.reloads = Counter(
            "admit_bundle_reloads_total", "Bundle loads, by result (ok, error).", ["result"], **kw
        )
        self.bundle = Gauge(
            "admit_bundle_info",
            "The active bundle (value 1), by content digest.",
            ["digest"],
            multiprocess_mode="liveall",
            **kw,
        )
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, endpoint: str, result: str, seconds: float) -> None:
        self._child(self.requests, endpoint, result).inc()
        self._child(self.latency, endpoint, result).observe(seconds)

    def reloaded(self, event: Any) -> None:
        """Count a bundle reload (an event with `result`, `digest`, `problems`) and log it."""
        self._child(self.reloads, event.result).inc()
        if event.result == "ok":
            log.info("bundle reloaded: digest %s in %.3fs", event.digest[:12], event.seconds)
        else:
            log.error(
                "bundle reload failed; the previous policies keep serving:\n  %s",
                "\n  ".join(event.problems),
            )

    def decision(self, decision: Decision) -> None:
        for r in decision.results:
            self._child(self.rule_results, r.policy, r.rule, r.result).inc()
            if r.result != "skip":
                self._child(self.rule_latency, r.policy, r.rule).observe(r.duration_ns / 1e9)


def exposition() -> bytes:
    """The text exposition of every worker's metrics (or this process's, single-process)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def mark_dead(pid: int) -> None:
    """Forget a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
