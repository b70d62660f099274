"""Metrics over time for the console's charts, from the workers' metric snapshots.

The workers already publish cumulative counters once a second (`admit.server.metrics`); the
console samples their merged totals every few seconds and keeps the differences: request rate,
deny ratio and latency quantiles per interval, plus per-rule totals for the slowest rules and
per-policy totals (evaluations, outcomes, deny ratio, rule-time quantiles).

Per-policy figures count rule evaluations, not requests: the workers count each rule's outcome
(`admit_rule_results_total`), so a policy of two rules judging one pod counts two evaluations.
A failed or erroring evaluation of an `enforce` rule counts as a denial; `warn` and `audit`
rules never deny.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from admit.server.metrics import REQUEST_BUCKETS, RULE_BUCKETS, totals

ADMISSION = ("/validate", "/mutate")
SAMPLE_SECONDS = 2.0  # between samples: the console process samples this often


def quantile(series: list[float], bounds: tuple[float, ...], q: float) -> float | None:
    """The q-quantile of a histogram (bucket counts, +Inf, sum), interpolated in its bucket."""
    counts = series[: len(bounds) + 1]
    total = sum(counts)
    if total <= 0:
        return None
    rank, running = q * total, 0.0
    for i, count in enumerate(counts):
        if running + count >= rank and count > 0:
            lower = bounds[i - 1] if i > 0 else 0.0
            upper = bounds[i] if i < len(bounds) else bounds[-1]
            return lower + (upper - lower) * (rank - running) / count
        running += count
    return bounds[-1]


def _minus(a: list[float], b: list[float] | None) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)] if b else list(a)


def _admission_latency(latency: dict[tuple[str, ...], list[float]]) -> list[float]:
    merged = [0.0] * (len(REQUEST_BUCKETS) + 2)
    for (endpoint, _result), series in latency.items():
        if endpoint in ADMISSION:
            merged = [x + y for x, y in zip(merged, series, strict=True)]
    return merged


class MetricsHistory:
    """Samples of the merged worker metrics; `sample()` every few seconds, `report()` to show."""

    def __init__(self, directory: Path | None, points: int = 180) -> None:
        self.directory = directory
        self.points: deque[dict[str, Any]] = deque(maxlen=points)
        self._last: tuple[float, dict[str, Any]] | None = None
        self.latest: dict[str, Any] = totals(None)

    def sample(self) -> None:
        now, current = time.time(), totals(self.directory)
        self.latest = current
        requests = current["requests"]
        answered = sum(v for (e, _), v in requests.items() if e in ADMISSION)
        denied = sum(v for (e, r), v in requests.items() if e in ADMISSION and r == "denied")
        latency = _admission_latency(current["latency"])
        if self._last is not None:
            then, previous = self._last
            dt = max(now - then, 1e-3)
            d_answered = answered - previous["answered"]
            d_denied = denied - previous["denied"]
            window = _minus(latency, previous["latency"])
            p50 = quantile(window, REQUEST_BUCKETS, 0.5)
            p99 = quantile(window, REQUEST_BUCKETS, 0.99)
            self.points.append(
                {
                    "time": now,
                    "rate": d_answered / dt,
                    "deny_ratio": d_denied / d_answered if d_answered > 0 else None,
                    "p50_ms": p50 * 1000 if p50 is not None else None,
                    "p99_ms": p99 * 1000 if p99 is not None else None,
                }
            )
        self._last = (now, {"answered": answered, "denied": denied, "latency": latency})

    def rules(self) -> dict[str, dict[str, Any]]:
        """Per rule ("policy/rule"): outcome counts, calls, mean, p50 and p99 time in µs."""
        found: dict[str, dict[str, Any]] = {}
        for (policy, rule, result), value in self.latest["rule_results"].items():
            entry = found.setdefault(f"{policy}/{rule}" if policy else rule, {"results": {}})
            entry["results"][result] = int(value)
        for (policy, rule), series in self.latest["rule_latency"].items():
            entry = found.setdefault(f"{policy}/{rule}" if policy else rule, {"results": {}})
            entry.update(_timing(series))
        return found

    def policies(self, actions: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Per policy, busiest first: rule evaluations (skips left out), outcome counts, the
        deny ratio (failed or erroring evaluations of its `enforce` rules, by `actions`: rule
        key -> action, enforce when unknown) and the p50/p99 time of one rule call in µs."""
        actions = actions or {}
        found: dict[str, dict[str, Any]] = {}
        for (policy, rule, result), value in self.latest["rule_results"].items():
            entry = found.setdefault(policy, {"policy": policy, "results": {}, "denied": 0})
            entry["results"][result] = entry["results"].get(result, 0) + int(value)
            enforced = actions.get(f"{policy}/{rule}", "enforce") == "enforce"
            if enforced and result in ("fail", "error"):
                entry["denied"] += int(value)
        latency: dict[str, list[float]] = {}
        for (policy, _rule), series in self.latest["rule_latency"].items():
            merged = latency.get(policy)
            latency[policy] = [x + y for x, y in zip(merged, series, strict=True)] if merged \
                else list(series)  # fmt: skip
        rows = []
        for policy, entry in found.items():
            evaluations = sum(n for r, n in entry["results"].items() if r != "skip")
            timing = _timing(latency[policy]) if policy in latency else {}
            rows.append(
                {
                    **entry,
                    "evaluations": evaluations,
                    "deny_ratio": entry["denied"] / evaluations if evaluations else None,
                    "p50_us": timing.get("p50_us"),
                    "p99_us": timing.get("p99_us"),
                }
            )
        return sorted(rows, key=lambda r: (-r["evaluations"], r["policy"]))

    def report(self, actions: Mapping[str, str] | None = None) -> dict[str, Any]:
        requests = self.latest["requests"]
        slowest = sorted(
            ({"rule": k, **v} for k, v in self.rules().items() if v.get("mean_us") is not None),
            key=lambda r: -r["mean_us"],
        )
        return {
            "points": list(self.points),
            "every": SAMPLE_SECONDS,
            "totals": {
                "answered": int(sum(v for (e, _), v in requests.items() if e in ADMISSION)),
                "denied": int(
                    sum(v for (e, r), v in requests.items() if e in ADMISSION and r == "denied")
                ),
            },
            "slowest_rules": slowest[:10],
            "policies": self.policies(actions),
        }


def _timing(series: list[float]) -> dict[str, Any]:
    """Calls, mean, p50 and p99 in µs of a rule-time histogram (bucket counts, +Inf, sum)."""
    count = sum(series[:-1])
    p50 = quantile(series, RULE_BUCKETS, 0.5)
    p99 = quantile(series, RULE_BUCKETS, 0.99)
    return {
        "calls": int(count),
        "mean_us": series[-1] / count * 1e6 if count else None,
        "p50_us": p50 * 1e6 if p50 is not None else None,
        "p99_us": p99 * 1e6 if p99 is not None else None,
    }
